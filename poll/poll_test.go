package poll

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"holdfast/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Values that must never show up in an error.
const (
	token    = "tok-s3cret"
	urlToken = "url-s3cret"
)

var auth = Auth{Header: "Authorization", Value: "Bearer " + token, QueryParam: "access_token", QueryValue: token}

// seen is what the test server recorded about one request.
type seen struct {
	method, path string
	query        url.Values
	header       http.Header
	body         string
}

// server is an httptest server on 127.0.0.1 that records requests and answers with reply.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newServer(t *testing.T, reply http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), string(body)})
		s.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) last(t *testing.T) seen {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("server saw no request")
	}
	return s.reqs[len(s.reqs)-1]
}

// client returns a Client for s whose URLs carry a static query, including a secret.
func (s *server) client(mod func(*config.FallbackConfig)) *Client {
	cfg := config.FallbackConfig{
		PollURL: s.URL + "/events?feed=main&key=" + urlToken,
		SendURL: s.URL + "/send?key=" + urlToken,
		Headers: map[string]string{"X-Client": "holdfast"},
	}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg, s.Client())
}

func reply(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// checkSecrets fails when err leaks a token or the query string.
func checkSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{token, urlToken, "feed=main", "?"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestPollRequest(t *testing.T) {
	srv := newServer(t, reply(200, `[]`))
	c := srv.client(nil)
	res, err := c.Poll(t.Context(), "a b&c=d", auth)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || len(res.Events) != 0 || res.NotModified {
		t.Errorf("Poll = %+v, want 200 with no events", res)
	}
	r := srv.last(t)
	for _, tt := range []struct{ what, got, want string }{
		{"method", r.method, http.MethodGet},
		{"path", r.path, "/events"},
		{"query feed", r.query.Get("feed"), "main"},
		{"query key", r.query.Get("key"), urlToken},
		{"cursor", r.query.Get("since"), "a b&c=d"},
		{"query token", r.query.Get("access_token"), token},
		{"auth header", r.header.Get("Authorization"), "Bearer " + token},
		{"configured header", r.header.Get("X-Client"), "holdfast"},
		{"accept", r.header.Get("Accept"), "application/json"},
		{"if-none-match", r.header.Get("If-None-Match"), ""},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.what, tt.got, tt.want)
		}
	}
}

func TestPollCursorParamAndNoAuth(t *testing.T) {
	srv := newServer(t, reply(200, `[]`))
	c := srv.client(func(cfg *config.FallbackConfig) { cfg.CursorParam = "after" })
	if _, err := c.Poll(t.Context(), "", Auth{}); err != nil {
		t.Fatal(err)
	}
	r := srv.last(t)
	if r.query.Has("after") || r.query.Has("since") || r.header.Get("Authorization") != "" {
		t.Errorf("empty cursor and zero Auth sent query %v, Authorization %q", r.query, r.header.Get("Authorization"))
	}
	if _, err := c.Poll(t.Context(), "17", Auth{}); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(t).query.Get("after"); got != "17" {
		t.Errorf("cursor param after = %q, want %q", got, "17")
	}
}

func TestPollETag(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		_, _ = io.WriteString(w, `[{"type":"a"}]`)
	})
	c := srv.client(nil)
	steps := []struct {
		name, cursor string
		sent         string // If-None-Match the server should see
		notModified  bool
	}{
		{"first poll sends no etag", "5", "", false},
		{"same cursor sends the etag", "5", `"v1"`, true},
		{"still remembered after a 304", "5", `"v1"`, true},
		{"new cursor is a new resource", "6", "", false},
	}
	for _, st := range steps {
		res, err := c.Poll(t.Context(), st.cursor, Auth{})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := srv.last(t).header.Get("If-None-Match"); got != st.sent {
			t.Errorf("%s: If-None-Match = %q, want %q", st.name, got, st.sent)
		}
		if res.NotModified != st.notModified || res.ETag != `"v1"` {
			t.Errorf("%s: Poll = %+v, want NotModified %v, ETag \"v1\"", st.name, res, st.notModified)
		}
		if st.notModified && (res.Events != nil || res.Status != 304) {
			t.Errorf("%s: 304 result = %+v, want no events and Status 304", st.name, res)
		}
		if !st.notModified && len(res.Events) != 1 {
			t.Errorf("%s: got %d events, want 1", st.name, len(res.Events))
		}
	}
}

func TestPollShapes(t *testing.T) {
	for _, tt := range []struct {
		name, shape string
		status      int
		body        string
		want        int  // events
		errBody     bool // wants ErrBody
	}{
		{"auto envelope", "", 200, `{"events":[{"type":"a"},{"type":"b"}]}`, 2, false},
		{"auto array", "", 200, `[{"type":"a"}]`, 1, false},
		{"auto object", "", 200, `{"type":"a"}`, 1, false},
		{"envelope", ShapeEnvelope, 200, `{"events":[{"type":"a"}]}`, 1, false},
		{"array", ShapeArray, 200, `[{"type":"a"},{"type":"b"},{"type":"c"}]`, 3, false},
		{"object", ShapeObject, 200, `{"type":"a"}`, 1, false},
		{"no content", ShapeArray, 204, ``, 0, false},
		{"empty 200", ShapeArray, 200, "\n", 0, false},
		{"fixed shape mismatch", ShapeEnvelope, 200, `[{"type":"a"}]`, 0, true},
		{"element not an object", ShapeArray, 200, `[{"type":"a"},"` + token + `"]`, 0, true},
		{"not JSON", "", 200, `<html>` + token + `</html>`, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, reply(tt.status, tt.body))
			c := srv.client(func(cfg *config.FallbackConfig) { cfg.Shape = tt.shape })
			res, err := c.Poll(t.Context(), "", auth)
			if tt.errBody {
				if !errors.Is(err, ErrBody) {
					t.Fatalf("Poll error = %v, want ErrBody", err)
				}
				checkSecrets(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Events) != tt.want || res.Status != tt.status {
				t.Errorf("Poll = %d events, status %d, want %d, %d", len(res.Events), res.Status, tt.want, tt.status)
			}
		})
	}
}

func TestPollStatusErrors(t *testing.T) {
	date := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		reply     http.HandlerFunc
		auth      bool // wants ErrAuth
		code      int
		retryable bool
		retry     time.Duration
	}{
		{"401", reply(401, "no "+token), true, 0, false, 0},
		{"403", reply(403, ""), true, 0, false, 0},
		{"503 with Retry-After seconds", reply(503, "", "Retry-After", "7"), false, 503, true, 7 * time.Second},
		{"503 with Retry-After date", reply(503, "", "Date", date.Format(http.TimeFormat),
			"Retry-After", date.Add(30*time.Second).Format(http.TimeFormat)), false, 503, true, 30 * time.Second},
		{"429", reply(429, "", "Retry-After", "1"), false, 429, true, time.Second},
		{"408", reply(408, ""), false, 408, true, 0},
		{"500 without Retry-After", reply(500, "boom"), false, 500, true, 0},
		{"404 is not retryable", reply(404, ""), false, 404, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.reply)
			c := srv.client(nil)
			_, pollErr := c.Poll(t.Context(), "1", auth)
			sendErr := c.Send(t.Context(), []byte(`{}`), auth)
			for _, err := range []error{pollErr, sendErr} {
				if err == nil {
					t.Fatal("got nil error")
				}
				checkSecrets(t, err)
				if !strings.Contains(err.Error(), srv.Listener.Addr().String()) {
					t.Errorf("error %q does not name the host", err)
				}
				if tt.auth {
					if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), tt.name) {
						t.Errorf("error %q, want ErrAuth with status %s", err, tt.name)
					}
					continue
				}
				var se *StatusError
				if !errors.As(err, &se) {
					t.Fatalf("error %v is not a *StatusError", err)
				}
				if se.Code != tt.code || se.Retryable() != tt.retryable || se.RetryAfter != tt.retry {
					t.Errorf("StatusError = %+v retryable %v, want code %d retryable %v retry %v",
						se, se.Retryable(), tt.code, tt.retryable, tt.retry)
				}
			}
		})
	}
}

func TestPollTimeout(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := srv.client(func(cfg *config.FallbackConfig) { cfg.Timeout = config.Duration{Duration: 100 * time.Millisecond} })
	_, err := c.Poll(t.Context(), "1", auth)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll error = %v, want context.DeadlineExceeded", err)
	}
	checkSecrets(t, err)
	err = c.Send(t.Context(), []byte(`{}`), auth)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send error = %v, want context.DeadlineExceeded", err)
	}
	checkSecrets(t, err)
}

func TestPollCanceled(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := srv.client(nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Poll(ctx, "", auth); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll error = %v, want context.Canceled", err)
	}
}

func TestPollConnectionRefused(t *testing.T) {
	srv := newServer(t, reply(200, "[]"))
	c := srv.client(nil)
	srv.Close()
	_, err := c.Poll(t.Context(), "1", auth)
	if err == nil {
		t.Fatal("Poll to a closed server succeeded")
	}
	checkSecrets(t, err)
	if !strings.HasPrefix(err.Error(), "poll "+srv.Listener.Addr().String()+": ") {
		t.Errorf("error %q, want prefix %q", err, "poll "+srv.Listener.Addr().String())
	}
}

func TestSend(t *testing.T) {
	srv := newServer(t, reply(202, ""))
	c := srv.client(nil)
	msg := `{"type":"order","id":1}`
	if err := c.Send(t.Context(), []byte(msg), auth); err != nil {
		t.Fatal(err)
	}
	r := srv.last(t)
	for _, tt := range []struct{ what, got, want string }{
		{"method", r.method, http.MethodPost},
		{"path", r.path, "/send"},
		{"body", r.body, msg},
		{"content type", r.header.Get("Content-Type"), "application/json"},
		{"auth header", r.header.Get("Authorization"), "Bearer " + token},
		{"query token", r.query.Get("access_token"), token},
		{"query key", r.query.Get("key"), urlToken},
		{"configured header", r.header.Get("X-Client"), "holdfast"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.what, tt.got, tt.want)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    config.FallbackConfig
		noSend bool // Send fails with ErrNoSendURL too
	}{
		{"unparsable poll_url", config.FallbackConfig{PollURL: "http://h/%zz?key=" + urlToken, SendURL: "http://127.0.0.1:1/"}, false},
		{"relative poll_url", config.FallbackConfig{PollURL: "/events?key=" + urlToken}, true},
		{"not http", config.FallbackConfig{PollURL: "ftp://h/?key=" + urlToken}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.cfg, nil)
			if _, err := c.Poll(t.Context(), "", Auth{}); err == nil || !strings.Contains(err.Error(), "poll_url") {
				t.Errorf("Poll error = %v, want a poll_url error", err)
			} else {
				checkSecrets(t, err)
			}
			if tt.noSend {
				if err := c.Send(t.Context(), nil, Auth{}); !errors.Is(err, ErrNoSendURL) {
					t.Errorf("Send error = %v, want ErrNoSendURL", err)
				}
			}
		})
	}
}

func TestAuthStringRedacts(t *testing.T) {
	if s := auth.String(); strings.Contains(s, token) {
		t.Errorf("Auth.String() = %q, contains the token", s)
	}
}
