package upstream_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"holdfast/upstream"
)

// do performs one request with a keep-alive-free client, so no idle connection outlives it.
func do(t *testing.T, method, url string, hdr http.Header, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c := http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

func seqs(t *testing.T, raw []json.RawMessage) []int {
	t.Helper()
	out := make([]int, len(raw))
	for i, r := range raw {
		var ev struct{ Seq int }
		if err := json.Unmarshal(r, &ev); err != nil {
			t.Fatalf("event %s: %v", r, err)
		}
		out[i] = ev.Seq
	}
	return out
}

func TestPoll(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	for range 600 {
		s.Publish("processing_progress", nil)
	}
	for _, tt := range []struct {
		name        string
		query       string
		ifNoneMatch string
		wantCode    int
		wantETag    string
		first, last int // seqs expected in the envelope or array; 0 = no body check
	}{
		{"first page is capped at 500", "?since=0", "", 200, `"500"`, 1, 500},
		{"no since means from the start", "", "", 200, `"500"`, 1, 500},
		{"next page", "?since=500", "", 200, `"600"`, 501, 600},
		{"nothing new with matching etag", "?since=600", `"600"`, 304, `"600"`, 0, 0},
		{"nothing new without etag", "?since=600", "", 200, `"600"`, 0, 0},
		{"stale etag", "?since=590", `"590"`, 200, `"600"`, 591, 600},
		{"bare array", "?since=598&shape=array", "", 200, `"600"`, 599, 600},
		{"bad since", "?since=x", "", 400, "", 0, 0},
		{"bad shape", "?shape=xml", "", 400, "", 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hdr := http.Header{}
			if tt.ifNoneMatch != "" {
				hdr.Set("If-None-Match", tt.ifNoneMatch)
			}
			code, h, body := do(t, "GET", s.PollURL()+tt.query, hdr, "")
			if code != tt.wantCode || h.Get("ETag") != tt.wantETag {
				t.Fatalf("got %d ETag %q, want %d %q (body %.80s)", code, h.Get("ETag"), tt.wantCode, tt.wantETag, body)
			}
			if code != 200 {
				return
			}
			var raw []json.RawMessage
			if strings.Contains(tt.query, "shape=array") {
				if err := json.Unmarshal(body, &raw); err != nil {
					t.Fatalf("array body: %v", err)
				}
			} else {
				var env struct{ Events []json.RawMessage }
				if err := json.Unmarshal(body, &env); err != nil {
					t.Fatalf("envelope body: %v", err)
				}
				raw = env.Events
			}
			got := seqs(t, raw)
			if tt.first == 0 {
				if len(got) != 0 {
					t.Errorf("got seqs %v, want none", got)
				}
				return
			}
			if len(got) != tt.last-tt.first+1 || got[0] != tt.first || got[len(got)-1] != tt.last {
				t.Errorf("got %d seqs %v…, want %d..%d", len(got), got[:min(len(got), 3)], tt.first, tt.last)
			}
			for i := 1; i < len(got); i++ {
				if got[i] != got[i-1]+1 {
					t.Fatalf("gap: %d after %d", got[i], got[i-1])
				}
			}
		})
	}
	if got := s.Polls(); got != 9 {
		t.Errorf("Polls() = %d, want 9", got)
	}
}

func TestPollObjectShape(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	s.Publish("processing_progress", nil)
	s.Publish("processing_complete", map[string]any{"files": 3})
	code, h, body := do(t, "GET", s.PollURL()+"?since=0&shape=object", nil, "")
	var ev map[string]any
	if code != 200 || json.Unmarshal(body, &ev) != nil || ev["type"] != "processing_complete" || h.Get("ETag") != `"2"` {
		t.Fatalf("got %d %s ETag %s, want the latest event as one object", code, body, h.Get("ETag"))
	}
	if code, _, _ := do(t, "GET", s.PollURL()+"?since=2&shape=object", nil, ""); code != http.StatusNoContent {
		t.Errorf("nothing new: %d, want 204", code)
	}
}

func TestPollHooks(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	s.PollStatus(http.StatusServiceUnavailable)
	if code, _, _ := do(t, "GET", s.PollURL(), nil, ""); code != http.StatusServiceUnavailable {
		t.Errorf("forced status: %d, want 503", code)
	}
	s.PollStatus(0)
	s.PollBody([]byte("<html>not json"))
	if code, _, body := do(t, "GET", s.PollURL(), nil, ""); code != 200 || string(body) != "<html>not json" {
		t.Errorf("forced body: %d %q", code, body)
	}
	s.PollBody(nil)
	if code, _, body := do(t, "GET", s.PollURL(), nil, ""); code != 200 || string(body) != `{"events":[]}` {
		t.Errorf("normal again: %d %q", code, body)
	}
}

func TestHTTPAuth(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{Token: "tok"})
	for _, tt := range []struct {
		name  string
		query string
		hdr   http.Header
		want  int
	}{
		{"none", "", nil, 401},
		{"bearer", "", http.Header{"Authorization": {"Bearer tok"}}, 200},
		{"bad bearer", "", http.Header{"Authorization": {"Bearer x"}}, 401},
		{"query", "?token=tok", nil, 200},
		{"bad query", "?token=x", nil, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, _ := do(t, "GET", s.PollURL()+tt.query, tt.hdr, ""); code != tt.want {
				t.Errorf("poll: %d, want %d", code, tt.want)
			}
			want := tt.want
			if want == 200 {
				want = 202
			}
			if code, _, _ := do(t, "POST", s.SendURL()+tt.query, tt.hdr, `{"type":"x"}`); code != want {
				t.Errorf("send: %d, want %d", code, want)
			}
		})
	}
	if got := s.AuthAttempts(); got != 10 {
		t.Errorf("AuthAttempts() = %d, want 10", got)
	}
	if got := len(s.Outbound()); got != 2 {
		t.Errorf("recorded %d sends, want 2", got)
	}
}

func TestSend(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	if code, _, _ := do(t, "POST", s.SendURL(), nil, `{"type":"command","id":7}`); code != http.StatusAccepted {
		t.Errorf("send: %d, want 202", code)
	}
	if code, _, _ := do(t, "POST", s.SendURL(), nil, `[1,2]`); code != http.StatusBadRequest {
		t.Errorf("non-object: %d, want 400", code)
	}
	s.SendStatus(http.StatusServiceUnavailable)
	if code, _, _ := do(t, "POST", s.SendURL(), nil, `{"type":"lost"}`); code != http.StatusServiceUnavailable {
		t.Errorf("forced: %d, want 503", code)
	}
	got := s.Outbound()
	if len(got) != 1 || got[0]["type"] != "command" || got[0]["id"] != 7.0 {
		t.Errorf("Outbound() = %v, want the one command", got)
	}
	if n := s.Sends(); n != 3 {
		t.Errorf("Sends() = %d, want 3", n)
	}
}

func TestHistoryIsTrimmed(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{History: 10})
	for range 25 {
		s.Publish("processing_progress", nil)
	}
	_, _, body := do(t, "GET", s.PollURL(), nil, "")
	var env struct{ Events []json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	got := seqs(t, env.Events)
	if len(got) < 10 || len(got) > 20 || got[len(got)-1] != 25 {
		t.Errorf("kept seqs %v, want between 10 and 20 ending at 25", got)
	}
}
