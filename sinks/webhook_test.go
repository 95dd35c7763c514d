package sinks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"holdfast/config"
)

func webhookSink(t *testing.T, cfg config.SinkConfig) Sink {
	t.Helper()
	cfg.Name, cfg.Kind = "hook", KindWebhook
	s, err := New(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestWebhookStatus(t *testing.T) {
	for _, tt := range []struct {
		name       string
		status     int
		retryAfter func(now time.Time) string
		wantErr    bool
		permanent  bool
		wantAfter  time.Duration
	}{
		{"200 is done", 200, nil, false, false, 0},
		{"204 is done", 204, nil, false, false, 0},
		{"500 with Retry-After seconds", 500, func(time.Time) string { return "7" }, true, false, 7 * time.Second},
		{"503 with Retry-After date", 503, func(now time.Time) string { return now.Add(30 * time.Second).Format(http.TimeFormat) }, true, false, 30 * time.Second},
		{"429 is retryable", 429, nil, true, false, 0},
		{"408 is retryable", 408, nil, true, false, 0},
		{"404 is permanent", 404, nil, true, true, 0},
		{"401 is permanent", 401, nil, true, true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				now := time.Now().UTC().Truncate(time.Second)
				w.Header().Set("Date", now.Format(http.TimeFormat))
				if tt.retryAfter != nil {
					w.Header().Set("Retry-After", tt.retryAfter(now))
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			s := webhookSink(t, config.SinkConfig{URL: srv.URL})
			err := s.Write(context.Background(), events(`{"a":1}`))
			if (err != nil) != tt.wantErr {
				t.Fatalf("status %d: got %v, want error %v", tt.status, err, tt.wantErr)
			}
			if got := IsPermanent(err); got != tt.permanent {
				t.Errorf("status %d: IsPermanent(%v) = %v, want %v", tt.status, err, got, tt.permanent)
			}
			if got := RetryAfter(err); got != tt.wantAfter {
				t.Errorf("status %d: RetryAfter = %v, want %v", tt.status, got, tt.wantAfter)
			}
		})
	}
}

func TestWebhookRequest(t *testing.T) {
	type request struct {
		body    string
		ctype   string
		auth    string
		tenant  string
		reqPath string
	}
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{string(b), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Header.Get("X-Tenant"), r.URL.Path})
		mu.Unlock()
	}))
	defer srv.Close()
	t.Setenv("HOLDFAST_TEST_WEBHOOK_TOKEN", "s3cret")
	s := webhookSink(t, config.SinkConfig{URL: srv.URL + "/in", Headers: map[string]string{"X-Tenant": "t1"},
		TokenEnv: "HOLDFAST_TEST_WEBHOOK_TOKEN"})
	ctx := context.Background()
	if err := s.Write(ctx, events(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, events(`{"a":1}`, `{"b":[2]}`, `{"c":"3"}`)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d requests, want 2", len(got))
	}
	want := request{`{"a":1}`, "application/json", "Bearer s3cret", "t1", "/in"}
	if got[0] != want {
		t.Errorf("single event: got %+v, want %+v", got[0], want)
	}
	var batch []json.RawMessage
	if err := json.Unmarshal([]byte(got[1].body), &batch); err != nil {
		t.Fatalf("batch body %q is not a JSON array: %v", got[1].body, err)
	}
	if len(batch) != 3 || string(batch[1]) != `{"b":[2]}` {
		t.Errorf("batch: got %q, want the three lines in order", got[1].body)
	}
}

func TestWebhookTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // only then does the server watch for the client leaving
		<-r.Context().Done()               // never answers
	}))
	defer srv.Close()
	s := webhookSink(t, config.SinkConfig{URL: srv.URL, Timeout: config.Duration{Duration: 200 * time.Millisecond}})
	err := s.Write(context.Background(), events(`{}`))
	if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") || IsPermanent(err) {
		t.Fatalf("got %v, want a retryable timeout", err)
	}
}

func TestWebhookConnectionRefusedHidesURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	s := webhookSink(t, config.SinkConfig{URL: url + "/hook?api_key=hunter2"})
	err := s.Write(context.Background(), events(`{}`))
	if err == nil || IsPermanent(err) {
		t.Fatalf("got %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "/hook") {
		t.Errorf("error %q shows the URL's path or query", err)
	}
}

// The body's shape depends on batch_max alone: above 1 it is an array even for one event.
func TestWebhookBodyShapeFollowsBatchMax(t *testing.T) {
	for _, tt := range []struct {
		batchMax int
		events   []string
		want     string
	}{
		{1, []string{`{"a":1}`}, `{"a":1}`},
		{5, []string{`{"a":1}`}, `[{"a":1}]`},
		{5, []string{`{"a":1}`, `{"b":2}`}, `[{"a":1},{"b":2}]`},
	} {
		var mu sync.Mutex
		var got []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, string(b))
			mu.Unlock()
		}))
		s := webhookSink(t, config.SinkConfig{URL: srv.URL, BatchMax: tt.batchMax})
		err := s.Write(context.Background(), events(tt.events...))
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("batch_max %d, %d events: bodies %q, want [%q]", tt.batchMax, len(tt.events), got, tt.want)
		}
	}
}
