package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/queue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeBackend records what was enqueued and answers with scripted values.
type fakeBackend struct {
	mu         sync.Mutex
	streams    map[string]bool
	got        map[string][][]byte
	enqueueErr error
	status     *messages.Status
	statusErr  error
	pingErr    error
}

func newFake(streams ...string) *fakeBackend {
	b := &fakeBackend{streams: map[string]bool{}, got: map[string][][]byte{}, status: &messages.Status{}}
	for _, s := range streams {
		b.streams[s] = true
	}
	return b
}

func (b *fakeBackend) Status(context.Context) (*messages.Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status, b.statusErr
}

func (b *fakeBackend) Enqueue(_ context.Context, stream string, msgs [][]byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.streams[stream] {
		return 0, fmt.Errorf("enqueue %s: %w", stream, ErrUnknownStream)
	}
	if b.enqueueErr != nil {
		return 0, b.enqueueErr
	}
	b.got[stream] = append(b.got[stream], msgs...)
	return len(b.got[stream]), nil
}

func (b *fakeBackend) Ping(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pingErr
}

func (b *fakeBackend) received(stream string) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[stream]
}

func (b *fakeBackend) set(f func(b *fakeBackend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

// start runs a real server on cfg.Listen (127.0.0.1:0 when empty) and returns it with a
// client dialling its address. Cleanup shuts it down and waits for Serve to return.
func start(t *testing.T, cfg config.ControlConfig, token config.Secret, b Backend, m *metrics.Metrics, logw io.Writer) (*Server, *Client) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if logw == nil {
		logw = zerolog.NewTestWriter(t)
	}
	s := New(cfg, token, b, m, zerolog.New(logw))
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen(%q): %v", cfg.Listen, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	c, err := NewClient(config.ControlConfig{Listen: s.Addr()}, token)
	if err != nil {
		t.Fatalf("NewClient(%q): %v", s.Addr(), err)
	}
	return s, c
}

// call sends a raw request through c's transport and returns the status and body.
func call(t *testing.T, c *Client, method, path string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, clientBase+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(data)
}

func TestUnixSocketMode(t *testing.T) {
	for _, tt := range []struct {
		mode string
		want os.FileMode
	}{
		{"", 0o600},
		{"0600", 0o600},
		{"0660", 0o660},
	} {
		t.Run("mode "+tt.mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ctl.sock")
			s, c := start(t, config.ControlConfig{Listen: "unix:" + path, SocketMode: tt.mode}, "", newFake(), nil, nil)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatalf("stat socket: %v", err)
			}
			if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != tt.want {
				t.Errorf("socket mode = %v, want socket with %v", fi.Mode(), tt.want)
			}
			if s.Addr() != "unix:"+path {
				t.Errorf("Addr() = %q, want %q", s.Addr(), "unix:"+path)
			}
			if _, err := c.Status(context.Background()); err != nil {
				t.Errorf("Status over the socket: %v", err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("socket dir holds %d entries, want only the socket (temp dir left behind?)", len(entries))
			}
		})
	}
}

func TestUnixSocketLifecycle(t *testing.T) {
	dir := t.TempDir()
	log := zerolog.New(zerolog.NewTestWriter(t))

	// A socket left by a crashed process: bound, then closed without unlinking.
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s := New(config.ControlConfig{Listen: "unix:" + stale}, "", newFake(), nil, log)
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}

	// While s holds it, a second server must not steal the path.
	if err := New(config.ControlConfig{Listen: "unix:" + stale}, "", newFake(), nil, log).Listen(); err == nil {
		t.Error("second Listen on a live socket succeeded, want an error")
	}

	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Shutdown: stat err = %v, want not exist", err)
	}

	// A regular file is never replaced.
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := New(config.ControlConfig{Listen: "unix:" + regular}, "", newFake(), nil, log).Listen(); err == nil {
		t.Error("Listen over a regular file succeeded, want an error")
	}
	if data, _ := os.ReadFile(regular); string(data) != "keep" {
		t.Errorf("regular file content = %q, want it untouched", data)
	}
}

func TestListenErrors(t *testing.T) {
	log := zerolog.New(zerolog.NewTestWriter(t))
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tt := range []struct {
		name string
		cfg  config.ControlConfig
	}{
		{"off", config.ControlConfig{}},
		{"port in use", config.ControlConfig{Listen: taken.Addr().String()}},
		{"no port", config.ControlConfig{Listen: "127.0.0.1"}},
		{"empty socket path", config.ControlConfig{Listen: "unix:"}},
		{"bad socket mode", config.ControlConfig{Listen: "unix:" + filepath.Join(t.TempDir(), "s"), SocketMode: "rw"}},
		{"missing dir", config.ControlConfig{Listen: "unix:/nonexistent/dir/s.sock"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := New(tt.cfg, "", newFake(), nil, log).Listen(); err == nil {
				t.Errorf("Listen(%+v) = nil, want an error", tt.cfg)
			}
		})
	}
	if _, err := NewClient(config.ControlConfig{}, ""); !errors.Is(err, ErrOff) {
		t.Errorf("NewClient with listen off: err = %v, want ErrOff", err)
	}
}

func TestBearerToken(t *testing.T) {
	const token = "s3cret-token"
	logs := &actortest.Buffer{}
	s, c := start(t, config.ControlConfig{}, token, newFake("a"), metrics.New(), logs)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/v1/streams"} {
		for _, tt := range []struct {
			name string
			auth string
			want int
		}{
			{"no header", "", http.StatusUnauthorized},
			{"wrong token", "Bearer nope", http.StatusUnauthorized},
			{"token as prefix", "Bearer " + token + "x", http.StatusUnauthorized},
			{"wrong scheme", "Basic " + token, http.StatusUnauthorized},
			{"right token", "Bearer " + token, http.StatusOK},
			{"scheme is case-insensitive", "bearer " + token, http.StatusOK},
		} {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				hdr := map[string]string{}
				if tt.auth != "" {
					hdr["Authorization"] = tt.auth
				}
				if got, body := call(t, c, http.MethodGet, path, hdr, ""); got != tt.want {
					t.Errorf("GET %s with %q = %d %s, want %d", path, tt.auth, got, body, tt.want)
				}
			})
		}
	}
	if code, _ := call(t, c, http.MethodPost, "/v1/streams/a/messages", nil, `{"x":1}`); code != http.StatusUnauthorized {
		t.Errorf("POST without token = %d, want 401", code)
	}
	// The client sends the token itself.
	if _, err := c.Send(context.Background(), "a", []byte(`{"x":1}`), false); err != nil {
		t.Errorf("client Send with token: %v", err)
	}
	noToken, err := NewClient(config.ControlConfig{Listen: s.Addr()}, "")
	if err != nil {
		t.Fatal(err)
	}
	var apiErr *APIError
	if _, err := noToken.Status(context.Background()); !errors.As(err, &apiErr) || apiErr.Code != http.StatusUnauthorized {
		t.Errorf("client Status without token: err = %v, want APIError 401", err)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the token appears in the log")
	}
}

func TestSend(t *testing.T) {
	const ndjson = "application/x-ndjson"
	for _, tt := range []struct {
		name        string
		stream      string
		contentType string
		body        string
		setErr      error
		wantCode    int
		wantMsgs    []string // what the backend must hold afterwards
		wantInError string
	}{
		{"single object", "a", "application/json", `{"op":"sub","n":1}`, nil, 202, []string{`{"op":"sub","n":1}`}, ""},
		{"pretty-printed object is one message", "a", "application/json", "{\n  \"op\": \"sub\"\n}\n", nil, 202, []string{`{"op":"sub"}`}, ""},
		{"ndjson by content type", "a", ndjson, "{\"n\":1}\r\n\n{\"n\":2}\n{\"n\":3}\n", nil, 202, []string{`{"n":1}`, `{"n":2}`, `{"n":3}`}, ""},
		{"ndjson detected without content type", "a", "", "{\"n\":1}\n{\"n\":2}", nil, 202, []string{`{"n":1}`, `{"n":2}`}, ""},
		{"ndjson with a bad line queues nothing", "a", ndjson, "{\"n\":1}\n{\"n\":\n{\"n\":3}", nil, 400, nil, "line 2"},
		{"bad line without content type", "a", "", "{\"n\":1}\n{\"n\":2}\nnope\n", nil, 400, nil, "line 3"},
		{"array is not an object", "a", "", `[{"n":1}]`, nil, 400, nil, "line 1: not a JSON object"},
		{"ndjson scalar line", "a", ndjson, "{\"n\":1}\n42", nil, 400, nil, "line 2: not a JSON object"},
		{"empty body", "a", "", "  \n", nil, 400, nil, "empty body"},
		{"ndjson line with invalid UTF-8 queues nothing", "a", ndjson, "{\"n\":1}\n{\"s\":\"\xff\xfe\"}\n{\"n\":3}", nil, 400, nil, "line 2: invalid UTF-8"},
		{"invalid UTF-8 without content type", "a", "", "{\"n\":1}\n{\"s\":\"a\xc3\"}\n", nil, 400, nil, "line 2: invalid UTF-8"},
		{"unknown stream", "zzz", "", `{"n":1}`, nil, 404, nil, "unknown stream"},
		{"queue full", "a", "", `{"n":1}`, fmt.Errorf("enqueue: %w", queue.ErrFull), 429, nil, "queue full"},
		{"message too large for the queue", "a", "", `{"n":1}`, queue.ErrTooLarge, 413, nil, "max_bytes"},
		{"backend timed out", "a", "", `{"n":1}`, context.DeadlineExceeded, 503, nil, "did not answer"},
		{"backend failed", "a", "", `{"n":1}`, errors.New("boom"), 500, nil, "boom"},
		{"body over max_body", "a", "", `{"pad":"` + strings.Repeat("x", 200) + `"}`, nil, 413, nil, "larger than 128 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newFake("a")
			b.enqueueErr = tt.setErr
			_, c := start(t, config.ControlConfig{MaxBody: 128}, "", b, nil, nil)
			hdr := map[string]string{}
			if tt.contentType != "" {
				hdr["Content-Type"] = tt.contentType
			}
			code, body := call(t, c, http.MethodPost, "/v1/streams/"+tt.stream+"/messages", hdr, tt.body)
			if code != tt.wantCode {
				t.Fatalf("POST = %d %s, want %d", code, body, tt.wantCode)
			}
			if code == 202 {
				var got SendResponse
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatalf("decode %s: %v", body, err)
				}
				if got.Accepted != len(tt.wantMsgs) || got.Depth != len(tt.wantMsgs) {
					t.Errorf("response = %+v, want accepted=depth=%d", got, len(tt.wantMsgs))
				}
			} else {
				var e ErrorResponse
				if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tt.wantInError) {
					t.Errorf("error body = %s, want JSON error containing %q", body, tt.wantInError)
				}
			}
			var got []string
			for _, m := range b.received("a") {
				got = append(got, string(m))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantMsgs) {
				t.Errorf("backend received %q, want %q", got, tt.wantMsgs)
			}
		})
	}
}

func TestClientSend(t *testing.T) {
	b := newFake("a b") // a stream name that needs escaping
	_, c := start(t, config.ControlConfig{}, "", b, nil, nil)
	got, err := c.Send(context.Background(), "a b", []byte("{\"n\":1}\n{\"n\":2}\n"), true)
	if err != nil || got != (SendResponse{Accepted: 2, Depth: 2}) {
		t.Fatalf("Send = %+v, %v; want {2 2}, nil", got, err)
	}
	b.set(func(b *fakeBackend) { b.enqueueErr = queue.ErrFull })
	var apiErr *APIError
	if _, err := c.Send(context.Background(), "a b", []byte(`{"n":3}`), false); !errors.As(err, &apiErr) || apiErr.Code != 429 || apiErr.Message != "queue full" {
		t.Errorf("Send on a full queue: err = %v, want APIError 429 queue full", err)
	}
}

func TestDrain(t *testing.T) {
	b := newFake("a")
	b.status = &messages.Status{Streams: []messages.StreamStatus{{StreamState: messages.StreamState{Stream: "a", State: messages.StateConnected}, Ready: true}}}
	s, c := start(t, config.ControlConfig{}, "", b, nil, nil)
	if code, _ := call(t, c, http.MethodGet, "/readyz", nil, ""); code != 200 {
		t.Fatalf("readyz before Drain = %d, want 200", code)
	}
	s.Drain()
	if code, body := call(t, c, http.MethodPost, "/v1/streams/a/messages", nil, `{"n":1}`); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("POST while draining = %d %s, want 503 draining", code, body)
	}
	if code, _ := call(t, c, http.MethodGet, "/readyz", nil, ""); code != 503 {
		t.Errorf("readyz while draining = %d, want 503", code)
	}
	if code, _ := call(t, c, http.MethodGet, "/v1/streams", nil, ""); code != 200 {
		t.Errorf("status while draining = %d, want 200", code)
	}
	if n := len(b.received("a")); n != 0 {
		t.Errorf("backend received %d messages while draining, want 0", n)
	}
}

func TestHealthAndReady(t *testing.T) {
	row := func(name, state string, why ...string) messages.StreamStatus {
		return messages.StreamStatus{StreamState: messages.StreamState{Stream: name, State: state}, Ready: len(why) == 0, NotReady: why}
	}
	for _, tt := range []struct {
		name      string
		streams   []messages.StreamStatus
		statusErr error
		pingErr   error
		health    int
		ready     int
		readyBody string
	}{
		{"no streams", nil, nil, nil, 200, 200, `{"ready":true,"not_ready":[]}`},
		{"connected and polling", []messages.StreamStatus{row("a", "connected"), row("b", "polling")}, nil, nil, 200, 200, `{"ready":true,"not_ready":[]}`},
		{"one in backoff", []messages.StreamStatus{row("a", "connected"), row("b", "backoff", "stream backoff: dial refused"),
			row("c", "connected", "sink hook failing for 2m0s (unhealthy_after 1m0s): 400")}, nil, nil, 200, 503,
			`{"ready":false,"not_ready":[{"stream":"b","state":"backoff","reasons":["stream backoff: dial refused"]},` +
				`{"stream":"c","state":"connected","reasons":["sink hook failing for 2m0s (unhealthy_after 1m0s): 400"]}]}`},
		{"status unavailable", nil, context.DeadlineExceeded, nil, 200, 503, `"error":"status unavailable`},
		{"actor system stuck", nil, nil, context.DeadlineExceeded, 503, 200, `{"ready":true,"not_ready":[]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newFake()
			b.status, b.statusErr, b.pingErr = &messages.Status{Streams: tt.streams}, tt.statusErr, tt.pingErr
			_, c := start(t, config.ControlConfig{}, "", b, nil, nil)
			if code, body := call(t, c, http.MethodGet, "/healthz", nil, ""); code != tt.health {
				t.Errorf("healthz = %d %s, want %d", code, body, tt.health)
			}
			code, body := call(t, c, http.MethodGet, "/readyz", nil, "")
			if code != tt.ready || !strings.Contains(body, tt.readyBody) {
				t.Errorf("readyz = %d %q, want %d containing %q", code, body, tt.ready, tt.readyBody)
			}
		})
	}
}

func TestMetricsRoute(t *testing.T) {
	m := metrics.New()
	m.Connections.WithLabelValues("a").Inc()
	_, c := start(t, config.ControlConfig{}, "", newFake(), m, nil)
	code, body := call(t, c, http.MethodGet, "/metrics", nil, "")
	if code != 200 || !strings.Contains(body, `holdfast_connections_total{stream="a"} 1`) {
		t.Errorf("/metrics = %d, want 200 with holdfast_connections_total{stream=\"a\"} 1; body:\n%.2000s", code, body)
	}
	if code, _ := call(t, c, http.MethodPost, "/metrics", nil, ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %d, want 405", code)
	}
}

func TestStatusJSON(t *testing.T) {
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	b := newFake()
	b.status = &messages.Status{Streams: []messages.StreamStatus{
		{
			StreamState: messages.StreamState{Stream: "zeta", State: "backoff", Attempt: 3, MaxAttempts: 10,
				Since: since, LastError: "dial: refused", RetryIn: 4 * time.Second},
			Queue:  messages.QueueStats{Depth: 5, Bytes: 120, Dropped: 2, Unconfirmed: 3},
			Router: messages.RouterStats{EventsIn: 42, ParseErrors: 1, Duplicates: 2, Gaps: 3, GapEvents: 9, LastEventAt: since.Add(time.Minute)},
		},
		{StreamState: messages.StreamState{Stream: "alpha", State: "connected", Via: "websocket"}},
	}}
	_, c := start(t, config.ControlConfig{}, "", b, nil, nil)
	code, body := call(t, c, http.MethodGet, "/v1/streams", nil, "")
	if code != 200 {
		t.Fatalf("GET /v1/streams = %d %s", code, body)
	}
	var raw struct {
		Streams []map[string]any `json:"streams"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if len(raw.Streams) != 2 || raw.Streams[0]["name"] != "alpha" {
		t.Fatalf("streams = %v, want alpha then zeta", raw.Streams)
	}
	zeta := raw.Streams[1]
	for key, want := range map[string]any{
		"name": "zeta", "state": "backoff", "via": "", "attempt": 3.0, "max_attempts": 10.0,
		"since": "2025-03-01T12:00:00Z", "last_error": "dial: refused", "retry_in": "4s",
		"events_in": 42.0, "parse_errors": 1.0, "duplicates": 2.0, "gaps": 3.0, "gap_events": 9.0,
		"last_event_at": "2025-03-01T12:01:00Z",
		"queue":         map[string]any{"depth": 5.0, "bytes": 120.0, "dropped": 2.0, "expired": 0.0, "sent": 0.0, "unconfirmed": 3.0},
	} {
		if got := zeta[key]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	for _, key := range []string{"since", "retry_in", "last_event_at"} {
		if _, ok := raw.Streams[0][key]; ok {
			t.Errorf("alpha has %s, want it left out when unset", key)
		}
	}
	st, err := c.Status(context.Background())
	if err != nil || len(st.Streams) != 2 || st.Streams[1].Queue.Depth != 5 || !st.Streams[1].Since.Equal(since) {
		t.Errorf("client Status = %+v, %v", st, err)
	}
}

func TestRenderStatus(t *testing.T) {
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	now, age, failing, errAt := since.Add(time.Hour), 3.25, since.Add(58*time.Minute), since.Add(59*time.Minute+55*time.Second)
	var out bytes.Buffer
	err := RenderStatus(&out, StatusResponse{Time: &now, Streams: []StreamStatus{
		{Name: "alpha", State: "connected", Ready: true, Via: "websocket", Since: &since, EventsIn: 1200, LastEventAge: &age,
			Queue: QueueStatus{Depth: 0}, Sinks: []SinkStatus{{Name: "out", Kind: "file", State: "ok", Delivered: 1200}}},
		{Name: "beta-long-name", State: "backoff", RetryIn: "4s", Attempt: 3, MaxAttempts: 10, Since: &since,
			Queue: QueueStatus{Depth: 12, Dropped: 2, Expired: 1}, ParseErrors: 7, LastError: "dial: connection\nrefused", LastErrorAt: &errAt,
			NotReady: []string{"stream backoff: dial: connection refused", "sink hook failing for 2m0s (unhealthy_after 1m0s): 400"},
			Sinks: []SinkStatus{{Name: "hook", Kind: "webhook", State: "unhealthy", FailingSince: &failing, Retries: 4, DeadLettered: 9,
				Backlog: 2, LastError: "post: 400 Bad Request", LastErrorAt: &errAt}}},
	}})
	if err != nil {
		t.Fatalf("RenderStatus: %v", err)
	}
	want := "" +
		"STREAM          STATE                  READY  VIA        ATTEMPT  SINCE                 QUEUE        EVENTS  LAST EVENT  REJECTED  LAST ERROR\n" +
		"alpha           connected              yes    websocket  -        2025-03-01T12:00:00Z  0            1200    3.3s ago    0         -\n" +
		"beta-long-name  backoff (retry in 4s)  no     -          3/10     2025-03-01T12:00:00Z  12 (3 lost)  0       -           7         dial: connection refused (5s ago)\n" +
		"\n" +
		"SINK  STREAM          KIND     STATE               DELIVERED  RETRIES  DEAD-LETTERED  BACKLOG  LAST ERROR\n" +
		"out   alpha           file     ok                  1200       0        0              0        -\n" +
		"hook  beta-long-name  webhook  unhealthy for 2m0s  0          4        9              2        post: 400 Bad Request (5s ago)\n" +
		"not ready: beta-long-name: stream backoff: dial: connection refused\n" +
		"not ready: beta-long-name: sink hook failing for 2m0s (unhealthy_after 1m0s): 400\n"
	if out.String() != want {
		t.Errorf("RenderStatus output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestParseBodyLineNumbers(t *testing.T) {
	for _, tt := range []struct {
		name   string
		body   string
		ndjson bool
		want   string // error substring, or "" for success
		n      int
	}{
		{"objects separated by blank lines", "{}\n\n{}", false, "", 2},
		{"syntax error on line 3 of a pretty object", "{\n\"a\": 1,\n\"b\": }\n", false, "line 3", 0},
		{"truncated object", "{\"a\":1}\n{\"b\":", false, "line 2", 0},
		{"string at top level", "\"hi\"", false, "line 1: not a JSON object", 0},
		{"ndjson pretty object is split and rejected", "{\n}", true, "line 1: invalid JSON", 0},
		{"ndjson trailing garbage on a line", "{} x", true, "line 1: invalid JSON", 0},
		{"invalid UTF-8 on line 3 of a pretty object", "{\n\"a\": 1,\n\"b\": \"\xed\xa0\x80\"\n}", false, "line 3: invalid UTF-8", 0},
		{"valid multi-byte UTF-8 is kept", "{\"s\":\"h\u00e9 \xe2\x82\xac\"}", true, "", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := parseBody([]byte(tt.body), tt.ndjson)
			switch {
			case tt.want == "" && (err != nil || len(msgs) != tt.n):
				t.Errorf("parseBody(%q) = %d msgs, %v; want %d, nil", tt.body, len(msgs), err, tt.n)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("parseBody(%q) err = %v, want one containing %q", tt.body, err, tt.want)
			}
		})
	}
}

func TestUnauthorizedRequestsLogRateLimited(t *testing.T) {
	var logs lockedLog
	s, c := start(t, config.ControlConfig{}, "right", newFake(), nil, &logs)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	s.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	for range 50 {
		if code, _ := call(t, c, http.MethodGet, "/v1/streams", map[string]string{"Authorization": "Bearer wrong"}, ""); code != 401 {
			t.Fatalf("bad token = %d, want 401", code)
		}
	}
	if n := strings.Count(logs.String(), "control request unauthorized"); n != 1 {
		t.Fatalf("50 refused requests wrote %d log lines, want 1:\n%s", n, logs.String())
	}
	mu.Lock()
	now = now.Add(unauthLogEvery)
	mu.Unlock()
	call(t, c, http.MethodGet, "/v1/streams", nil, "")
	if n := strings.Count(logs.String(), "control request unauthorized"); n != 2 || !strings.Contains(logs.String(), `"refused_since_last_line":49`) {
		t.Errorf("after %v: %d lines, want 2, the second counting the 49 left out:\n%s", unauthLogEvery, n, logs.String())
	}
}

// lockedLog collects log lines written from the server's goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
