package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"holdfast/control"
	"holdfast/upstream"
)

// readyz fetches /readyz and decodes its JSON body.
func (h *harness) readyz() (int, control.ReadyResponse) {
	h.t.Helper()
	code, body := h.call(http.MethodGet, "/readyz", "", "", "")
	var r control.ReadyResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		h.t.Fatalf("/readyz body %q: %v", body, err)
	}
	return code, r
}

// waitReady waits until /readyz answers want; it returns the last answer.
func (h *harness) waitReady(p *proc, want int) control.ReadyResponse {
	h.t.Helper()
	var r control.ReadyResponse
	p.waitFor(fmt.Sprintf("/readyz %d", want), func() bool {
		var code int
		code, r = h.readyz()
		return code == want
	})
	return r
}

// sinkRow returns one sink of one stream from GET /v1/streams.
func (h *harness) sinkRow(stream, sink string) (control.SinkStatus, bool) {
	row, ok := h.stream(stream)
	if !ok {
		return control.SinkStatus{}, false
	}
	for _, s := range row.Sinks {
		if s.Name == sink {
			return s, true
		}
	}
	return control.SinkStatus{}, false
}

// reasonsMention reports whether the not-ready entry of stream has a reason containing every part.
func reasonsMention(r control.ReadyResponse, stream string, parts ...string) bool {
	for _, nr := range r.NotReady {
		if nr.Stream != stream {
			continue
		}
		for _, why := range nr.Reasons {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(why, p)
			}
			if all {
				return true
			}
		}
	}
	return false
}

func TestReadyzFailsWhileWebhookDeadLettersEverything(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	var code atomic.Int32
	code.Store(http.StatusBadRequest)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(hook.Close)
	h.write(h.header(5*time.Second, "") + h.fileSink("rejects", "100ms") + fmt.Sprintf(`
[[sink]]
name = "hook"
kind = "webhook"
url = %q
max_retries = 0
dead_letter = "rejects"
unhealthy_after = "1s"
`, hook.URL+"/in") + streamDef{name: "a", url: up.URL(), sink: "hook"}.String())
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	p.waitLog("holdfast started", 1) // the control API listens
	h.waitReady(p, http.StatusOK)    // connected, and nothing has failed yet

	up.Publish("order", map[string]any{"n": 1})
	p.waitFor("the hook failing", func() bool {
		s, ok := h.sinkRow("a", "hook")
		return ok && s.State != "ok" && s.DeadLettered == 1
	})
	// Still connected, still dead-lettering: after unhealthy_after the stream is not ready.
	for i := range 3 {
		up.Publish("order", map[string]any{"n": i + 2})
	}
	p.waitFor("4 dead letters counted and written", func() bool {
		s, _ := h.sinkRow("a", "hook")
		rej, _ := h.sinkRow("a", "rejects")
		return s.DeadLettered == 4 && rej.Delivered == 4
	})
	r := h.waitReady(p, http.StatusServiceUnavailable)
	if r.Ready || !reasonsMention(r, "a", "sink hook", "unhealthy_after 1s", "400") {
		t.Errorf("/readyz = %+v, want stream a not ready naming sink hook, unhealthy_after and the 400", r)
	}
	s, _ := h.sinkRow("a", "hook")
	if s.State != "unhealthy" || s.DeadLettered != 4 || s.Retries != 0 || s.Delivered != 0 ||
		!strings.Contains(s.LastError, "400") || s.LastErrorAt == nil || s.FailingSince == nil {
		t.Errorf("sink hook = %+v, want unhealthy, 4 dead-lettered, no retries, the 400 with its time", s)
	}
	if row, _ := h.stream("a"); row.State != "connected" || row.Ready {
		t.Errorf("stream a = state %s ready %v, want connected but not ready", row.State, row.Ready)
	}
	if rej, _ := h.sinkRow("a", "rejects"); rej.State != "ok" || rej.Delivered != 4 {
		t.Errorf("sink rejects = %+v, want ok with the 4 dead letters delivered", rej)
	}

	// The operator's view: the table and --json.
	out, errOut, rc := h.cli("", "status", "--config", h.cfg)
	if rc != 0 {
		t.Fatalf("status exit %d: %s", rc, errOut)
	}
	for _, want := range []string{"READY", "REJECTED", "LAST EVENT", "DEAD-LETTERED", "BACKLOG",
		"unhealthy for", "not ready: a: sink hook failing for"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	out, errOut, rc = h.cli("", "status", "--config", h.cfg, "--json")
	var js control.StatusResponse
	if rc != 0 || json.Unmarshal([]byte(out), &js) != nil || len(js.Streams) != 1 || len(js.Streams[0].Sinks) != 2 ||
		js.Streams[0].LastEventAge == nil || js.Time == nil {
		t.Errorf("status --json (exit %d) = %s %s, want one stream with two sinks and a last event age", rc, out, errOut)
	}

	// The receiver accepts again: one delivery ends the failure and the stream is ready.
	code.Store(http.StatusOK)
	up.Publish("order", map[string]any{"n": 5})
	h.waitReady(p, http.StatusOK)
	if s, _ := h.sinkRow("a", "hook"); s.State != "ok" || s.Delivered != 1 || s.FailingSince != nil {
		t.Errorf("after recovery: sink hook = %+v, want ok with 1 delivered", s)
	}
}

func TestReadyzFailsWhileFileSinkCannotWrite(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	// Both directories are fine at the start (run checks them); they go bad afterwards.
	missing := filepath.Join(h.dir, "not-yet")
	readOnly := filepath.Join(h.dir, "ro")
	for _, d := range []string{missing, readOnly} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	roPath := filepath.Join(readOnly, "out.jsonl")
	h.write(h.header(5*time.Second, "") + fmt.Sprintf(`
[[sink]]
name = "out"
kind = "file"
path = %q
unhealthy_after = "1s"

[[sink]]
name = "ro"
kind = "file"
path = %q
unhealthy_after = "1s"
`, filepath.Join(missing, "out.jsonl"), roPath) + strings.Replace(streamDef{name: "a", url: up.URL(), sink: "out"}.String(),
		`sinks = ["out"]`, `sinks = ["out", "ro"]`, 1))
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	p.waitLog("holdfast started", 1) // the control API listens
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	roReason := "permission denied"
	if os.Getuid() == 0 {
		// root writes into a 0555 directory; a file where the directory was fails it too
		if err := os.Remove(readOnly); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(readOnly, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		roReason = "not a directory"
	} else if err := os.Chmod(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	up.Publish("order", map[string]any{"n": 1})
	r := h.waitReady(p, http.StatusServiceUnavailable)
	p.waitFor("both sinks named", func() bool {
		_, r = h.readyz()
		return reasonsMention(r, "a", "sink out", "no such file or directory") &&
			reasonsMention(r, "a", "sink ro", roReason)
	})
	if s, _ := h.sinkRow("a", "out"); s.State != "unhealthy" || s.Backlog != 1 || s.Delivered != 0 {
		t.Errorf("sink out = %+v, want unhealthy with the event in its backlog", s)
	}

	// Creating the directory is all it takes: the next flush writes the event.
	if err := os.Mkdir(missing, 0o755); err != nil {
		t.Fatal(err)
	}
	p.waitFor("sink out writing again", func() bool {
		s, ok := h.sinkRow("a", "out")
		return ok && s.State == "ok" && s.Delivered == 1 && s.Backlog == 0
	})
	if data, err := os.ReadFile(filepath.Join(missing, "out.jsonl")); err != nil || strings.Count(string(data), "\n") != 1 {
		t.Errorf("out.jsonl = %q, %v, want the one event", data, err)
	}
	_, r = h.readyz()
	if reasonsMention(r, "a", "sink out") || !reasonsMention(r, "a", "sink ro") {
		t.Errorf("/readyz = %+v, want only sink ro named", r)
	}
}

func TestReadyzFailsWhileEveryPollFails(t *testing.T) {
	h := newHarness(t, false)
	var code atomic.Int32
	code.Store(http.StatusInternalServerError)
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := int(code.Load()); c != http.StatusOK {
			http.Error(w, "feed down", c)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[]`))
	}))
	t.Cleanup(feed.Close)
	dead := "ws://" + freeAddr(t) + "/ws" // nothing listens: every dial fails
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") + streamDef{name: "a", url: dead, sink: "out",
		reconnect: "max_attempts = 1", tables: fmt.Sprintf(`
[stream.fallback]
poll_url = %q
interval = "100ms"
max_interval = "200ms"
jitter = "none"
retry_websocket_every = "1h"
`, feed.URL+"/poll")}.String())
	p := h.start()
	p.waitLog("holdfast started", 1)
	h.waitState(p, "a", "polling")
	var r control.ReadyResponse
	p.waitFor("readyz naming the failing poll", func() bool {
		var c int
		c, r = h.readyz()
		return c == http.StatusServiceUnavailable && reasonsMention(r, "a", "last poll request failed", "500")
	})
	row, _ := h.stream("a")
	if row.Ready || row.Via != "poll" || !strings.Contains(row.LastError, "500") || row.LastErrorAt == nil {
		t.Errorf("stream a = %+v, want polling, not ready, the poll's 500 as last error with its time", row)
	}

	code.Store(http.StatusOK)
	h.waitReady(p, http.StatusOK)
	if row, _ := h.stream("a"); !row.Ready || row.State != "polling" {
		t.Errorf("after the feed recovered: stream a = %+v, want polling and ready", row)
	}
}
