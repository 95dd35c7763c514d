package actors_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"holdfast/actors"
	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/testsupport"
)

// sinkHarness is one test's actor system, manual clock and metrics, with a probe as Cursor.
type sinkHarness struct {
	sys   *actor.ActorSystem
	probe *actortest.Probe
	clock *actortest.Clock
	env   actors.Env
	m     *metrics.Metrics
}

func newSinkHarness(t *testing.T) *sinkHarness {
	sys, probe := actortest.NewSystem(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	env := actortest.Env(t, clock, nil)
	m := env.Metrics
	return &sinkHarness{sys: sys, probe: probe, clock: clock, env: env, m: m}
}

// spawn starts a sink actor and stops it (waiting) before the system shuts down.
func (h *sinkHarness) spawn(t *testing.T, cfg config.SinkConfig, peers actors.Peers) *actor.PID {
	t.Helper()
	pid, err := h.sys.Root.SpawnNamed(actors.SinkProps(h.env, cfg, "feed", peers, io.Discard), actors.SinkPrefix+cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.stop(t, pid) })
	return pid
}

// stop stops pid, moving the clock so that the stop grace can run out.
func (h *sinkHarness) stop(t *testing.T, pid *actor.PID) {
	f := h.sys.Root.StopFuture(pid)
	done := make(chan error, 1)
	go func() { done <- f.Wait() }()
	actortest.Eventually(t, "the sink to stop", func() bool {
		select {
		case <-done:
			return true
		default:
			h.clock.Advance(time.Second)
			return false
		}
	})
}

// until advances the clock a step at a time until cond holds.
func (h *sinkHarness) until(t *testing.T, what string, step time.Duration, cond func() bool) {
	t.Helper()
	actortest.Eventually(t, what, func() bool {
		if cond() {
			return true
		}
		h.clock.Advance(step)
		return false
	})
}

// doneUpTo returns the highest SinkDone.UpTo the probe got from sink.
func (h *sinkHarness) doneUpTo(sink string) uint64 {
	var up uint64
	for _, m := range h.probe.Messages() {
		if d, ok := m.(*messages.SinkDone); ok && d.Sink == sink {
			up = max(up, d.UpTo)
		}
	}
	return up
}

func sinkCfg(name, kind string) config.SinkConfig {
	return config.SinkConfig{Name: name, Kind: kind, Buffer: 16, MaxRetries: 5,
		Retry:         config.BackoffConfig{InitialDelay: config.Duration{Duration: time.Second}, MaxDelay: config.Duration{Duration: 30 * time.Second}, Multiplier: 2, Jitter: "none"},
		FlushInterval: config.Duration{Duration: 100 * time.Millisecond}, Mode: "per_event", Concurrency: 1, BatchMax: 1,
		Timeout: config.Duration{Duration: 5 * time.Second}}
}

func sinkEvent(n int) messages.Event {
	return messages.Event{Stream: "feed", Type: "tick", Offset: uint64(n),
		Line: fmt.Appendf(nil, `{"stream":"feed","type":"tick","via":"websocket","message":{"n":%d}}`, n)}
}

func deliver(h *sinkHarness, pid *actor.PID, from, to int) {
	for n := from; n <= to; n++ {
		h.sys.Root.Send(pid, &messages.Deliver{Event: sinkEvent(n)})
	}
}

// eventN extracts message.n from an envelope line.
func eventN(t *testing.T, line string) int {
	t.Helper()
	var env struct {
		Message struct{ N int } `json:"message"`
	}
	if err := json.Unmarshal([]byte(line), &env); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return env.Message.N
}

func fileLines(path string) []string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %v is neither counter nor gauge", c.Desc())
	return 0
}

// hook is a webhook receiver: it records each request's body and the manual clock's time,
// and answers with respond (200 when nil).
type hook struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  []string
	times   []time.Time
	respond func(hit int, body string, w http.ResponseWriter)
}

func newHook(t *testing.T, clock *actortest.Clock, respond func(hit int, body string, w http.ResponseWriter)) *hook {
	h := &hook{respond: respond}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.times = append(h.times, clock.Now())
		hit := len(h.bodies)
		h.mu.Unlock()
		if h.respond != nil {
			h.respond(hit, string(b), w)
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) hits() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

func (h *hook) received() ([]string, []time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...), append([]time.Time(nil), h.times...)
}

func TestSinkFileDeliversAndReportsDone(t *testing.T) {
	h := newSinkHarness(t)
	cfg := sinkCfg("archive", "file")
	cfg.Path = filepath.Join(t.TempDir(), "events.ndjson")
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})
	deliver(h, pid, 1, 10)
	h.until(t, "SinkDone up to 10", 100*time.Millisecond, func() bool { return h.doneUpTo("archive") == 10 })
	lines := fileLines(cfg.Path) // SinkDone comes after the flush that wrote them
	if len(lines) != 10 {
		t.Fatalf("got %d lines when SinkDone{UpTo: 10} arrived, want 10", len(lines))
	}
	for i, l := range lines {
		if n := eventN(t, l); n != i+1 {
			t.Errorf("line %d holds event %d, want %d", i+1, n, i+1)
		}
	}
	if got := metricValue(t, h.m.SinkDelivered.WithLabelValues("feed", "archive")); got != 10 {
		t.Errorf("delivered = %v, want 10", got)
	}
	if got := metricValue(t, h.m.SinkInFlight.WithLabelValues("feed", "archive")); got != 0 {
		t.Errorf("in flight = %v, want 0", got)
	}
}

// A feed that never pauses for a whole flush_interval still gets its progress reported:
// every event here ends in an idle flush, and the tick must not be pushed back by them.
func TestSinkReportsProgressUnderSteadyTraffic(t *testing.T) {
	h := newSinkHarness(t)
	cfg := sinkCfg("archive", "file")
	cfg.Path = filepath.Join(t.TempDir(), "events.ndjson")
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})
	const events = 20
	for n := 1; n <= events; n++ {
		deliver(h, pid, n, n)
		actortest.Eventually(t, fmt.Sprintf("event %d flushed when idle", n), func() bool { return len(fileLines(cfg.Path)) == n })
		h.clock.Advance(cfg.FlushInterval.Duration / 2)
	}
	// 20 half-intervals have passed, with no pause of a whole interval: about nine ticks.
	actortest.Eventually(t, "SinkDone past event 10", func() bool { return h.doneUpTo("archive") >= 10 })
}

func TestSinkFileReopen(t *testing.T) {
	h := newSinkHarness(t)
	cfg := sinkCfg("archive", "file")
	cfg.Path = filepath.Join(t.TempDir(), "events.ndjson")
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})
	deliver(h, pid, 1, 1)
	h.until(t, "event 1 flushed", 100*time.Millisecond, func() bool { return h.doneUpTo("archive") == 1 })
	if err := os.Rename(cfg.Path, cfg.Path+".1"); err != nil {
		t.Fatal(err)
	}
	h.sys.Root.Send(pid, &messages.Reopen{})
	actortest.Eventually(t, "the path to be reopened", func() bool { _, err := os.Stat(cfg.Path); return err == nil })
	deliver(h, pid, 2, 2)
	h.until(t, "event 2 flushed", 100*time.Millisecond, func() bool { return h.doneUpTo("archive") == 2 })
	if old, cur := fileLines(cfg.Path+".1"), fileLines(cfg.Path); len(old) != 1 || len(cur) != 1 || eventN(t, cur[0]) != 2 {
		t.Errorf("rotated file %q, new file %q: want event 1 in the rotated one and event 2 in the new one", old, cur)
	}
}

func TestSinkWebhookRetriesThenSucceeds(t *testing.T) {
	h := newSinkHarness(t)
	srv := newHook(t, h.clock, func(hit int, _ string, w http.ResponseWriter) {
		switch hit {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	cfg := sinkCfg("hook", "webhook")
	cfg.URL = srv.URL
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})
	deliver(h, pid, 1, 1)
	h.until(t, "three attempts", time.Second, func() bool { return srv.hits() == 3 })
	_, at := srv.received()
	if gap := at[1].Sub(at[0]); gap < time.Second {
		t.Errorf("first retry after %v, want at least the 1s backoff", gap)
	}
	if gap := at[2].Sub(at[1]); gap < 60*time.Second {
		t.Errorf("second retry after %v, want at least Retry-After's 60s", gap)
	}
	h.until(t, "SinkDone up to 1", 100*time.Millisecond, func() bool { return h.doneUpTo("hook") == 1 })
	if got := metricValue(t, h.m.SinkRetried.WithLabelValues("feed", "hook")); got != 2 {
		t.Errorf("retried = %v, want 2", got)
	}
	if got := metricValue(t, h.m.SinkDelivered.WithLabelValues("feed", "hook")); got != 1 {
		t.Errorf("delivered = %v, want 1", got)
	}
}

// deadLetterEntry is one line of a dead-letter file.
type deadLetterEntry struct {
	DeadLetter struct {
		From     string `json:"from"`
		Reason   string `json:"reason"`
		Attempts int    `json:"attempts"`
	} `json:"dead_letter"`
	Event json.RawMessage `json:"event"`
}

func TestSinkDeadLetters(t *testing.T) {
	for _, tt := range []struct {
		name         string
		status       int
		wantAttempts int
		wantReason   string
	}{
		{"retries exhausted", http.StatusInternalServerError, 3, "status 500"},
		{"permanent 4xx at once", http.StatusNotFound, 1, "status 404"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newSinkHarness(t)
			srv := newHook(t, h.clock, func(_ int, _ string, w http.ResponseWriter) { w.WriteHeader(tt.status) })
			dead := sinkCfg("dead", "file")
			dead.Path = filepath.Join(t.TempDir(), "dead.ndjson")
			deadPID := h.spawn(t, dead, actors.Peers{})
			cfg := sinkCfg("hook", "webhook")
			cfg.URL, cfg.MaxRetries, cfg.DeadLetter = srv.URL, 2, "dead"
			pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID, Sinks: map[string]*actor.PID{"dead": deadPID}})
			deliver(h, pid, 1, 1)
			h.until(t, "a dead letter on disk", time.Second, func() bool { return len(fileLines(dead.Path)) == 1 })
			var got deadLetterEntry
			if err := json.Unmarshal([]byte(fileLines(dead.Path)[0]), &got); err != nil {
				t.Fatal(err)
			}
			if got.DeadLetter.From != "hook" || got.DeadLetter.Attempts != tt.wantAttempts ||
				!strings.Contains(got.DeadLetter.Reason, tt.wantReason) || string(got.Event) != string(sinkEvent(1).Line) {
				t.Errorf("status %d: got %+v event %s, want from hook, %d attempts, reason with %q, the original event",
					tt.status, got.DeadLetter, got.Event, tt.wantAttempts, tt.wantReason)
			}
			if srv.hits() != tt.wantAttempts {
				t.Errorf("status %d: %d requests, want %d", tt.status, srv.hits(), tt.wantAttempts)
			}
			h.until(t, "SinkDone up to 1", 100*time.Millisecond, func() bool { return h.doneUpTo("hook") == 1 })
			if got := metricValue(t, h.m.SinkDeadLettered.WithLabelValues("feed", "hook")); got != 1 {
				t.Errorf("dead-lettered = %v, want 1", got)
			}
			if got := metricValue(t, h.m.SinkRetried.WithLabelValues("feed", "hook")); got != float64(tt.wantAttempts-1) {
				t.Errorf("retried = %v, want %d", got, tt.wantAttempts-1)
			}
		})
	}
}

// A sink that cannot be built (here a missing CA file) keeps running and fails each delivery
// through the ordinary retries, instead of failing the actor.
func TestSinkUnusableRetriesThenGivesUp(t *testing.T) {
	h := newSinkHarness(t)
	cfg := sinkCfg("hook", "webhook")
	cfg.URL, cfg.MaxRetries = "https://127.0.0.1:1/in", 1
	cfg.TLS.CAFile = filepath.Join(t.TempDir(), "missing-ca.pem")
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})
	deliver(h, pid, 1, 1)
	h.until(t, "the event given up", time.Second, func() bool {
		return metricValue(t, h.m.SinkDeadLettered.WithLabelValues("feed", "hook")) == 1
	})
	if got := metricValue(t, h.m.SinkRetried.WithLabelValues("feed", "hook")); got != 1 {
		t.Errorf("retried = %v, want 1", got)
	}
}

func TestSinkWebhookKeepsOrder(t *testing.T) {
	h := newSinkHarness(t)
	srv := newHook(t, h.clock, nil)
	cfg := sinkCfg("hook", "webhook")
	cfg.URL = srv.URL
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})
	deliver(h, pid, 1, 200)
	actortest.Eventually(t, "200 requests", func() bool { return srv.hits() == 200 })
	bodies, _ := srv.received()
	for i, b := range bodies {
		if n := eventN(t, b); n != i+1 {
			t.Fatalf("request %d carried event %d, want %d", i+1, n, i+1)
		}
	}
	h.until(t, "SinkDone up to 200", 100*time.Millisecond, func() bool { return h.doneUpTo("hook") == 200 })
}

func TestSinkWebhookBatches(t *testing.T) {
	h := newSinkHarness(t)
	release := make(chan struct{})
	srv := newHook(t, h.clock, func(hit int, _ string, _ http.ResponseWriter) {
		if hit == 1 {
			<-release // hold the first request so the rest queue up
		}
	})
	cfg := sinkCfg("hook", "webhook")
	cfg.URL, cfg.BatchMax = srv.URL, 4
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})
	deliver(h, pid, 1, 1)
	actortest.Eventually(t, "the first request", func() bool { return srv.hits() == 1 })
	deliver(h, pid, 2, 5)
	actortest.Eventually(t, "the channel to fill", func() bool {
		return metricValue(t, h.m.SinkInFlight.WithLabelValues("feed", "hook")) == 5
	})
	close(release)
	actortest.Eventually(t, "the batch", func() bool { return srv.hits() == 2 })
	bodies, _ := srv.received()
	var batch []json.RawMessage
	if err := json.Unmarshal([]byte(bodies[1]), &batch); err != nil || len(batch) != 4 {
		t.Fatalf("second request %q: want a JSON array of 4 events (err %v)", bodies[1], err)
	}
	for i, e := range batch {
		if n := eventN(t, string(e)); n != i+2 {
			t.Errorf("batch[%d] is event %d, want %d", i, n, i+2)
		}
	}
}

func TestSinkBackpressure(t *testing.T) {
	h := newSinkHarness(t)
	release := make(chan struct{})
	srv := newHook(t, h.clock, func(int, string, http.ResponseWriter) { <-release })
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the server closes: it waits for handlers
	cfg := sinkCfg("hook", "webhook")
	cfg.URL, cfg.Buffer, cfg.Concurrency = srv.URL, 4, 1
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})

	var sent atomic.Int64
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for n := 1; n <= 100; n++ {
			h.sys.Root.Send(pid, &messages.Deliver{Event: sinkEvent(n)})
			sent.Add(1)
		}
	}()
	// One request in flight, one event in the hand-off channel, and Buffer in the mailbox,
	// which counts the one Receive holds while it waits on that channel.
	const bound = 4 + 1 + 1
	actortest.Eventually(t, "the sender to block", func() bool { return sent.Load() == bound && srv.hits() == 1 })
	for range 20 { // it stays blocked
		if n := sent.Load(); n > bound {
			t.Fatalf("sent %d events into a stalled sink, want at most %d", n, bound)
		}
		time.Sleep(5 * time.Millisecond) // a short window to catch a sender that did not block
	}
	unblock()
	<-finished
	actortest.Eventually(t, "100 requests", func() bool { return srv.hits() == 100 })
	bodies, _ := srv.received()
	for i, b := range bodies {
		if n := eventN(t, b); n != i+1 {
			t.Fatalf("request %d carried event %d, want %d", i+1, n, i+1)
		}
	}
}

// Stop reaches a sink whose Receive is blocked on a stalled worker, and the sink gives up
// in-flight work after its grace instead of hanging.
func TestSinkStopsWhileBlocked(t *testing.T) {
	h := newSinkHarness(t)
	release := make(chan struct{})
	srv := newHook(t, h.clock, func(int, string, http.ResponseWriter) { <-release })
	t.Cleanup(func() { close(release) })
	cfg := sinkCfg("hook", "webhook")
	cfg.URL, cfg.Buffer, cfg.Timeout = srv.URL, 4, config.Duration{Duration: time.Hour}
	pid, err := h.sys.Root.SpawnNamed(actors.SinkProps(h.env, cfg, "feed", actors.Peers{Cursor: h.probe.PID}, io.Discard), "sink-hook")
	if err != nil {
		t.Fatal(err)
	}
	// Seven events: six fit (as in TestSinkBackpressure) and the seventh blocks the sender.
	// No more, since sends to a stopped actor go to protoactor's dead letters, whose log
	// throttle leaves a goroutine running for a second.
	var sent atomic.Int64
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for n := 1; n <= 7; n++ {
			h.sys.Root.Send(pid, &messages.Deliver{Event: sinkEvent(n)})
			sent.Add(1)
		}
	}()
	actortest.Eventually(t, "the sender to block", func() bool { return sent.Load() == 6 && srv.hits() == 1 })
	h.stop(t, pid)
	<-finished // a stopped actor's mailbox drains, so the sender is released
	if up := h.doneUpTo("hook"); up != 0 {
		t.Errorf("SinkDone up to %d after nothing was delivered", up)
	}
}

func TestSinkDoneIsContiguous(t *testing.T) {
	h := newSinkHarness(t)
	release := make(chan struct{})
	srv := newHook(t, h.clock, func(_ int, body string, _ http.ResponseWriter) {
		if strings.Contains(body, `"n":2}`) {
			<-release
		}
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	cfg := sinkCfg("hook", "webhook")
	cfg.URL, cfg.Concurrency = srv.URL, 3
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})
	deliver(h, pid, 1, 5)
	actortest.Eventually(t, "5 requests", func() bool { return srv.hits() == 5 })
	h.until(t, "SinkDone up to 1", 100*time.Millisecond, func() bool { return h.doneUpTo("hook") == 1 })
	for range 5 { // event 2 is still out: nothing past 1 may be reported
		h.clock.Advance(100 * time.Millisecond)
		if up := h.doneUpTo("hook"); up != 1 {
			t.Fatalf("SinkDone up to %d while event 2 is in flight, want 1", up)
		}
	}
	unblock()
	h.until(t, "SinkDone up to 5", 100*time.Millisecond, func() bool { return h.doneUpTo("hook") == 5 })
}

func TestSinkPipeRestartsAfterKill(t *testing.T) {
	h := newSinkHarness(t)
	dir := t.TempDir()
	script, out := filepath.Join(dir, "consume.sh"), filepath.Join(dir, "out")
	body := "#!/bin/sh\necho $$ > \"$1/pid\"\nexec cat >> \"$1/out\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := sinkCfg("pipe", "exec")
	cfg.Command, cfg.Mode = []string{script, dir}, "pipe"
	pid := h.spawn(t, cfg, actors.Peers{Cursor: h.probe.PID})
	deliver(h, pid, 1, 50)
	actortest.Eventually(t, "50 lines", func() bool { return len(fileLines(out)) == 50 })
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	actortest.Eventually(t, "the process to be reaped", func() bool { return testsupport.ProcessGone(child) })
	deliver(h, pid, 51, 100)
	h.until(t, "100 lines", time.Second, func() bool { return len(fileLines(out)) >= 100 })
	// Nothing was in the pipe when the process died, so the package doc's duplicates (a
	// batch partly read before a failed write) cannot occur: each event exactly once.
	seen := map[int]int{}
	for _, l := range fileLines(out) {
		seen[eventN(t, l)]++
	}
	for n := 1; n <= 100; n++ {
		if seen[n] != 1 {
			t.Errorf("event %d arrived %d times, want 1", n, seen[n])
		}
	}
	if got := metricValue(t, h.m.SinkRetried.WithLabelValues("feed", "pipe")); got < 1 {
		t.Errorf("retried = %v, want at least 1 (the write that found the process dead)", got)
	}
	h.until(t, "SinkDone up to 100", 100*time.Millisecond, func() bool { return h.doneUpTo("pipe") == 100 })
}
