package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"holdfast/upstream"
)

func TestPublishReachesSubscribersOnly(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	ws := dial(t, s.URL(), nil)
	s.Await(t, "connection", func() bool { return s.Conns() == 1 })
	s.Publish("processing_progress", map[string]any{"job": "job-0"}) // before subscribe: not sent
	subscribe(t, s, ws, -1)

	s.Publish("processing_progress", map[string]any{"job": "job-3", "progress": 42.5, "eta": "12s", "current_file": "scan_0042.tif"})
	s.Publish("processing_complete", map[string]any{"job": "job-3", "files": 80, "duration": "1m2s"})
	s.Publish("processing_error", map[string]any{"job": "job-4", "error": "boom", "current_file": "scan_0001.tif"})

	for i, want := range []struct {
		typ, key string
		val      any
	}{
		{"processing_progress", "progress", 42.5},
		{"processing_complete", "files", 80.0},
		{"processing_error", "error", "boom"},
	} {
		got := read(t, ws)
		if got["type"] != want.typ || got[want.key] != want.val || seqOf(t, got) != uint64(i+2) {
			t.Errorf("event %d = %v, want type %s, %s=%v, seq %d", i, got, want.typ, want.key, want.val, i+2)
		}
		if _, ok := got["sent_at"].(float64); !ok {
			t.Errorf("event %d has no sent_at: %v", i, got)
		}
	}
	if got := s.LastSeq(); got != 4 {
		t.Errorf("LastSeq() = %d, want 4", got)
	}
}

// Several clients subscribe (with and without since) while a publisher runs: each must see
// one contiguous run of seqs up to the last event.
func TestReplayHasNoGapOrDuplicateUnderConcurrentPublishing(t *testing.T) {
	sinces := []int{-1, 0, 50, 250, -1, 100}
	s := upstream.NewTest(t, upstream.Options{})
	published := make(chan struct{})
	go func() { // publishes until every client subscribed, 1000 more, then "end"
		defer close(published)
		for extra := 1000; extra > 0; {
			s.Publish("processing_progress", nil)
			if len(s.Subscriptions()) == len(sinces) {
				extra--
			}
		}
		s.Publish("end", nil)
	}()
	s.Await(t, "early events", func() bool { return s.LastSeq() >= 300 })

	var wg sync.WaitGroup
	errs := make(chan error, len(sinces))
	for _, since := range sinces {
		ws := dial(t, s.URL(), nil)
		msg := map[string]any{"type": "subscribe"}
		if since >= 0 {
			msg["since"] = since
		}
		writeJSON(t, ws, msg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readRun(ws, since, "end")
		}()
	}
	wg.Wait()
	<-published
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// readRun reads events until one of type last, checking that their seqs follow each other
// from since+1 (or from the first one seen when since < 0).
func readRun(ws *websocket.Conn, since int, last string) error {
	prev := since
	for {
		_ = ws.SetReadDeadline(time.Now().Add(readWait))
		_, data, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("since %d: read after seq %d: %w", since, prev, err)
		}
		var ev struct {
			Type string
			Seq  int
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("since %d: frame %q: %w", since, data, err)
		}
		if prev >= 0 && ev.Seq != prev+1 {
			return fmt.Errorf("since %d: got seq %d after %d", since, ev.Seq, prev)
		}
		if ev.Type == last {
			return nil
		}
		prev = ev.Seq
	}
}

func TestEventSizePadsToTarget(t *testing.T) {
	for _, size := range []int{200, 2048} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := upstream.NewTest(t, upstream.Options{EventSize: size})
			ws := dial(t, s.URL(), nil)
			subscribe(t, s, ws, -1)
			s.Publish("processing_progress", map[string]any{"job": "job-1", "progress": 1.5})
			_ = ws.SetReadDeadline(time.Now().Add(readWait))
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if len(data) != size || json.Unmarshal(data, &m) != nil || m["job"] != "job-1" {
				t.Errorf("frame of %d bytes (%.60q…), want %d bytes of valid JSON keeping fields", len(data), data, size)
			}
		})
	}
}

func TestPings(t *testing.T) {
	for _, answer := range []bool{true, false} {
		t.Run(fmt.Sprintf("answer=%v", answer), func(t *testing.T) {
			s := upstream.NewTest(t, upstream.Options{})
			s.AnswerPings(answer)
			ws := dial(t, s.URL(), nil)
			subscribe(t, s, ws, -1)
			var mu sync.Mutex
			controlPongs := 0
			ws.SetPongHandler(func(string) error { mu.Lock(); controlPongs++; mu.Unlock(); return nil })

			if err := ws.WriteControl(websocket.PingMessage, []byte("hb"), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			writeJSON(t, ws, map[string]any{"type": "ping"})
			writeJSON(t, ws, map[string]any{"type": "marker"}) // handled after both pings
			s.Await(t, "marker", func() bool { return len(s.Outbound()) == 1 })
			s.Publish("processing_progress", nil)

			first := read(t, ws)
			if answer && first["type"] != "pong" {
				t.Fatalf("first frame = %v, want the pong before the event", first)
			}
			if answer {
				first = read(t, ws)
			}
			if first["type"] != "processing_progress" {
				t.Fatalf("frame = %v, want the event", first)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := map[bool]int{true: 1, false: 0}[answer]; controlPongs != want {
				t.Errorf("control pongs = %d, want %d", controlPongs, want)
			}
		})
	}
}

func TestFreezeMakesConnectionsHalfOpen(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	a, b := dial(t, s.URL(), nil), dial(t, s.URL(), nil)
	subscribe(t, s, a, -1)
	subscribe(t, s, b, -1)
	s.Freeze(true)

	// Publishing more than a connection's queue holds must not block on frozen connections.
	const n = 3000
	for range n {
		s.Publish("processing_progress", nil)
	}

	// a: pings go unanswered and nothing arrives, not even a close frame.
	if err := a.WriteControl(websocket.PingMessage, nil, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, a, map[string]any{"type": "ping"})
	if err := readErr(t, a, 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("read on frozen connection: %v, want a timeout", err)
	}
	if got := s.Conns(); got != 2 {
		t.Errorf("Conns() = %d while frozen, want 2 (not closed)", got)
	}

	// A connection made after Freeze is live.
	c := dial(t, s.URL(), nil)
	writeJSON(t, c, map[string]any{"type": "ping"})
	if got := read(t, c); got["type"] != "pong" {
		t.Fatalf("new connection got %v, want pong", got)
	}

	// b resumes with every held event, in order, and then its pong.
	s.Publish("end", nil)
	writeJSON(t, b, map[string]any{"type": "ping"})
	s.Freeze(false)
	if err := readRun(b, 0, "end"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b); got["type"] != "pong" {
		t.Fatalf("after thaw got %v, want pong", got)
	}
}

func TestDropConnections(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	ws := dial(t, s.URL(), nil)
	s.Await(t, "connection", func() bool { return s.Conns() == 1 })
	s.DropConnections()
	if err := readErr(t, ws, readWait); closeCode(err) != websocket.CloseAbnormalClosure {
		t.Fatalf("read after drop: %v, want abnormal closure (no close frame)", err)
	}
	s.Await(t, "no connections", func() bool { return s.Conns() == 0 })
}

func TestCloseConnectionsSendsCode(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	ws := dial(t, s.URL(), nil)
	s.Await(t, "connection", func() bool { return s.Conns() == 1 })
	s.CloseConnections(websocket.CloseTryAgainLater, "try again later")
	err := readErr(t, ws, readWait)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater || ce.Text != "try again later" {
		t.Fatalf("read after close: %v, want close 1013 \"try again later\"", err)
	}
	s.Await(t, "no connections", func() bool { return s.Conns() == 0 })
}

func TestRefuseUpgrades(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	s.RefuseUpgrades(http.StatusServiceUnavailable, "2")
	_, resp, err := dialer.Dial(s.URL(), nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		t.Fatalf("dial: %v, want a bad handshake with a response", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("response %d Retry-After %q, want 503 and \"2\"", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := s.Handshakes(); got != 0 {
		t.Errorf("Handshakes() = %d, want 0", got)
	}
	s.RefuseUpgrades(0, "")
	dial(t, s.URL(), nil)
	if got := s.Handshakes(); got != 1 {
		t.Errorf("Handshakes() = %d after accepting again, want 1", got)
	}
}

func TestAcceptThenDrop(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	s.AcceptThenDrop(true)
	ws := dial(t, s.URL(), nil)
	if err := readErr(t, ws, readWait); closeCode(err) != websocket.CloseAbnormalClosure {
		t.Fatalf("read: %v, want abnormal closure", err)
	}
	if got, conns := s.Handshakes(), s.Conns(); got != 1 || conns != 0 {
		t.Errorf("Handshakes() = %d, Conns() = %d, want 1 and 0", got, conns)
	}
}

func TestAuth(t *testing.T) {
	const tok = "s3cret"
	bearer := func(v string) http.Header { return http.Header{"Authorization": {"Bearer " + v}} }
	for _, tt := range []struct {
		name     string
		query    string
		header   http.Header
		message  string // "" = send no auth message
		wantHTTP int    // 0 = upgrade succeeds
		wantOK   bool   // events flow after subscribe
		attempts int
	}{
		{name: "message", message: tok, wantOK: true, attempts: 1},
		{name: "bad message", message: "nope", attempts: 1},
		{name: "header", header: bearer(tok), wantOK: true, attempts: 1},
		{name: "bad header", header: bearer("nope"), wantHTTP: http.StatusUnauthorized, attempts: 1},
		{name: "other scheme", header: http.Header{"Authorization": {"Basic " + tok}}, wantHTTP: http.StatusUnauthorized, attempts: 1},
		{name: "query", query: "?token=" + tok, wantOK: true, attempts: 1},
		{name: "bad query", query: "?token=nope", wantHTTP: http.StatusUnauthorized, attempts: 1},
		{name: "none", attempts: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := upstream.NewTest(t, upstream.Options{Token: tok})
			ws, resp, err := dialer.Dial(s.URL()+tt.query, tt.header)
			if tt.wantHTTP != 0 {
				if err == nil || status(resp) != tt.wantHTTP {
					t.Fatalf("dial: %v, want HTTP %d", err, tt.wantHTTP)
				}
				if got := s.AuthAttempts(); got != tt.attempts {
					t.Errorf("AuthAttempts() = %d, want %d", got, tt.attempts)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			t.Cleanup(func() { _ = ws.Close() })
			if tt.message != "" {
				writeJSON(t, ws, map[string]any{"type": "auth", "token": tt.message})
				want := map[bool]string{true: "auth_success", false: "auth_failed"}[tt.wantOK]
				if got := read(t, ws); got["type"] != want {
					t.Fatalf("auth reply %v, want %s", got, want)
				}
			}
			writeJSON(t, ws, map[string]any{"type": "subscribe"})
			if tt.wantOK {
				s.Await(t, "subscription", func() bool { return s.Subscribed() == 1 })
				s.Publish("processing_progress", nil)
				if got := read(t, ws); got["type"] != "processing_progress" {
					t.Fatalf("got %v, want the event", got)
				}
			} else {
				if tt.message == "" { // subscribe without auth is refused in words first
					if got := read(t, ws); got["type"] != "auth_failed" || got["reason"] != "not authenticated" {
						t.Fatalf("got %v, want auth_failed: not authenticated", got)
					}
				}
				if err := readErr(t, ws, readWait); closeCode(err) != websocket.ClosePolicyViolation {
					t.Fatalf("read: %v, want close 1008", err)
				}
				if got := s.Subscribed(); got != 0 {
					t.Errorf("Subscribed() = %d, want 0", got)
				}
			}
			if got := s.AuthAttempts(); got != tt.attempts {
				t.Errorf("AuthAttempts() = %d, want %d", got, tt.attempts)
			}
		})
	}
}

func TestAuthTimeoutCloses(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{Token: "t", AuthTimeout: 100 * time.Millisecond})
	ws := dial(t, s.URL(), nil)
	var ce *websocket.CloseError
	if err := readErr(t, ws, readWait); !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != "auth timeout" {
		t.Fatalf("read: %v, want close 1008 \"auth timeout\"", err)
	}
}

func TestSetTokenRotates(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{Token: "old"})
	s.SetToken("new")
	if _, resp, err := dialer.Dial(s.URL()+"?token=old", nil); err == nil || status(resp) != http.StatusUnauthorized {
		t.Fatalf("dial with old token: %v, want 401", err)
	}
	dial(t, s.URL()+"?token=new", nil)
}

func TestReceivedFilters(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	ws := dial(t, s.URL(), nil)
	writeJSON(t, ws, map[string]any{"type": "subscribe", "channel": "processing"})
	writeJSON(t, ws, map[string]any{"type": "ping"})
	writeJSON(t, ws, map[string]any{"type": "command", "id": 1.0})
	if err := ws.WriteMessage(websocket.TextMessage, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	s.Await(t, "five frames", func() bool { return len(s.ReceivedRaw()) == 5 })
	if got := len(s.Received()); got != 3 {
		t.Errorf("Received() has %d objects, want 3", got)
	}
	if got := s.Outbound(); len(got) != 1 || got[0]["type"] != "command" {
		t.Errorf("Outbound() = %v, want the command only", got)
	}
	if got := s.Subscriptions(); len(got) != 1 || got[0]["channel"] != "processing" {
		t.Errorf("Subscriptions() = %v, want the subscribe", got)
	}
}

func TestPublishRawKeepsOrder(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	ws := dial(t, s.URL(), nil)
	subscribe(t, s, ws, -1)
	s.Publish("processing_progress", nil)
	s.PublishRaw([]byte("garbage{"), false)
	s.PublishRaw([]byte{0xff, 0x00}, true)
	s.Publish("processing_complete", nil)
	for i, want := range []struct {
		typ  int
		data string
	}{
		{websocket.TextMessage, ""}, {websocket.TextMessage, "garbage{"},
		{websocket.BinaryMessage, "\xff\x00"}, {websocket.TextMessage, ""},
	} {
		_ = ws.SetReadDeadline(time.Now().Add(readWait))
		typ, data, err := ws.ReadMessage()
		if err != nil || typ != want.typ || want.data != "" && string(data) != want.data {
			t.Fatalf("frame %d: %d %q %v, want %d %q", i, typ, data, err, want.typ, want.data)
		}
	}
	if got := s.LastSeq(); got != 2 {
		t.Errorf("LastSeq() = %d, want 2 (raw frames take no seq)", got)
	}
}

func TestGenerateSimulatesJobs(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{Seed: 7})
	ws := dial(t, s.URL(), nil)
	subscribe(t, s, ws, -1)
	const n = 400
	if got := s.Generate(context.Background(), 0, n); got != n {
		t.Fatalf("Generate returned %d, want %d", got, n)
	}
	want := map[string][]string{
		"processing_progress": {"job", "progress", "eta", "current_file"},
		"processing_complete": {"job", "files", "duration"},
		"processing_error":    {"job", "error", "current_file"},
	}
	seen := map[string]int{}
	for i := range n {
		ev := read(t, ws)
		if seqOf(t, ev) != uint64(i+1) {
			t.Fatalf("event %d has seq %v", i, ev["seq"])
		}
		typ, _ := ev["type"].(string)
		fields, ok := want[typ]
		if !ok {
			t.Fatalf("unexpected event %v", ev)
		}
		for _, f := range fields {
			if _, ok := ev[f]; !ok {
				t.Errorf("%s without %s: %v", typ, f, ev)
			}
		}
		seen[typ]++
	}
	if seen["processing_progress"] == 0 || seen["processing_complete"] == 0 {
		t.Errorf("event mix %v, want progress and complete events", seen)
	}
}

func TestGenerateKeepsRate(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	start := time.Now()
	if got := s.Generate(context.Background(), 1000, 51); got != 51 {
		t.Fatalf("Generate returned %d, want 51", got)
	}
	if d := time.Since(start); d < 45*time.Millisecond {
		t.Errorf("51 events at 1000/s took %v, want about 50ms", d)
	}
}

func TestCloseStopsChaosAndConnections(t *testing.T) {
	s := upstream.New(upstream.Options{Chaos: true})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ws := dial(t, s.URL(), nil)
	subscribe(t, s, ws, -1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start("127.0.0.1:0"); !errors.Is(err, upstream.ErrStarted) {
		t.Errorf("Start after Close: %v, want ErrStarted", err)
	}
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Error("connection still open after Close")
	}
}

func TestWaitForHonoursContext(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitFor(ctx, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor = %v, want deadline exceeded", err)
	}
}

func TestSubscribeSinceAsStringAndSubprotocol(t *testing.T) {
	s := upstream.NewTest(t, upstream.Options{})
	for range 5 {
		s.Publish("processing_progress", nil)
	}
	d := websocket.Dialer{Subprotocols: []string{"events.v1", "other"}}
	ws, _, err := d.Dial(s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if got := ws.Subprotocol(); got != "events.v1" {
		t.Errorf("Subprotocol() = %q, want the first offered", got)
	}
	writeJSON(t, ws, map[string]any{"type": "subscribe", "since": "3"})
	for _, want := range []uint64{4, 5} {
		if got := seqOf(t, read(t, ws)); got != want {
			t.Fatalf("replayed seq %d, want %d", got, want)
		}
	}
}
