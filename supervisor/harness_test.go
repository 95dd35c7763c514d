package supervisor_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"holdfast/actors"
	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/supervisor"
	"holdfast/upstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is one loopback upstream, one actor system with a status probe, and a state dir.
type harness struct {
	t     *testing.T
	up    *upstream.Server
	sys   *actor.ActorSystem
	probe *actortest.Probe
	clock actors.Clock // nil: the system clock
	dir   string
	m     *metrics.Metrics
}

func newHarness(t *testing.T, opts upstream.Options) *harness {
	t.Helper()
	up := upstream.NewTest(t, opts)
	sys, probe := actortest.NewSystem(t)
	return &harness{t: t, up: up, sys: sys, probe: probe, dir: t.TempDir(), m: metrics.New()}
}

// newClockedHarness is newHarness with a manual clock: time moves only by clock.Advance.
func newClockedHarness(t *testing.T, opts upstream.Options) (*harness, *actortest.Clock) {
	t.Helper()
	h := newHarness(t, opts)
	clock := actortest.NewClock(time.Unix(0, 0))
	h.clock = clock
	return h, clock
}

// config is the stream rig (actortest.Stream) on the harness's upstream, subscribing; extra
// is appended after the stream (its sub-tables, more sinks).
func (h *harness) config(extra string) *config.Config {
	h.t.Helper()
	return actortest.Stream{Dir: h.dir, URL: h.up.URL(), Subscribe: true, Tables: extra}.Config(h.t)
}

func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

func (h *harness) env() actors.Env {
	clock := h.clock
	if clock == nil {
		clock = actors.SystemClock{}
	}
	env := actortest.Env(h.t, clock, h.probe.PID)
	env.Metrics = h.m
	return env
}

// startStream spawns the stream of cfg named name and stops it (draining) in t.Cleanup.
func (h *harness) startStream(cfg *config.Config, name string) *actor.PID {
	h.t.Helper()
	return h.spawnStream(h.env(), cfg, name)
}

// spawnStream spawns the stream of cfg named name with env; it stops, draining, in t.Cleanup.
func (h *harness) spawnStream(env actors.Env, cfg *config.Config, name string) *actor.PID {
	h.t.Helper()
	var sc supervisor.StreamConfig
	for _, s := range supervisor.StreamConfigs(cfg, os.Stdout) {
		if s.Stream.Name == name {
			sc = s
		}
	}
	return actortest.SpawnNamed(h.t, h.sys, supervisor.StreamProps(env, sc), name)
}

// expectState waits for the stream to report state.
func (h *harness) expectState(state string) *messages.StreamState {
	h.t.Helper()
	for {
		st := actortest.Expect[*messages.StreamState](h.t, h.probe)
		if st.State == state {
			return st
		}
	}
}

// connected waits until the stream is connected and the upstream has its subscription, so a
// fault injected next hits a registered connection.
func (h *harness) connected() {
	h.t.Helper()
	h.expectState(messages.StateConnected)
	h.up.Await(h.t, "a subscribed connection", func() bool { return h.up.Subscribed() == 1 })
}

// lines reads a JSONL file written by a sink; a missing file has no lines.
func lines(t *testing.T, path string) []map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []map[string]json.RawMessage
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1] // a line still being written is not read yet
	} else {
		b = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %q is not JSON: %v", path, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// seqs returns the seq of every event line's message.
func seqs(t *testing.T, path string) []uint64 {
	t.Helper()
	var out []uint64
	for _, l := range lines(t, path) {
		var msg struct{ Seq uint64 }
		if err := json.Unmarshal(l["message"], &msg); err != nil {
			t.Fatalf("message %s: %v", l["message"], err)
		}
		out = append(out, msg.Seq)
	}
	return out
}

func publish(up *upstream.Server, n int) {
	for i := 0; i < n; i++ {
		up.Publish("processing_progress", map[string]any{"job": "job-1", "progress": float64(i) / float64(n)})
	}
}

// testutilCount is how many heartbeat round trips the stream has measured.
func testutilCount(h *harness) uint64 {
	mfs, err := h.m.Registry().Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "holdfast_heartbeat_rtt_seconds" {
			n := uint64(0)
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
			return n
		}
	}
	return 0
}

// stallingWebhook answers every POST only once release is closed, and records the seq of
// every event it was given.
type stallingWebhook struct {
	*httptest.Server
	mu   sync.Mutex
	seqs []uint64
}

func newStallingWebhook(t *testing.T, release <-chan struct{}) *stallingWebhook {
	w := &stallingWebhook{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		type envelope struct {
			Message struct{ Seq uint64 }
		}
		var batch []envelope
		if json.Unmarshal(body, &batch) != nil { // one event is posted as an object
			var one envelope
			_ = json.Unmarshal(body, &one)
			batch = []envelope{one}
		}
		w.mu.Lock()
		for _, e := range batch {
			w.seqs = append(w.seqs, e.Message.Seq)
		}
		w.mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *stallingWebhook) Received() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seqs)
}

func (w *stallingWebhook) Seqs() []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]uint64(nil), w.seqs...)
}

// queuePID is the outbound queue of the stream whose supervisor is stream.
func queuePID(stream *actor.PID) *actor.PID {
	return actor.NewPID(stream.Address, stream.Id+"/"+actors.NameQueue)
}

// cmd is outbound message n, as the upstream records it in Outbound.
func cmd(n int) string { return fmt.Sprintf(`{"type":"cmd","n":%d}`, n) }

// enqueue asks the stream's queue to take msgs as one request and returns the answer.
func (h *harness) enqueue(stream *actor.PID, msgs ...string) *messages.Enqueued {
	h.t.Helper()
	data := make([][]byte, len(msgs))
	for i, m := range msgs {
		data[i] = []byte(m)
	}
	res, err := h.sys.Root.RequestFuture(queuePID(stream), &messages.Enqueue{Messages: data}, actortest.Timeout).Result()
	if err != nil {
		h.t.Fatalf("enqueue %d messages: %v", len(msgs), err)
	}
	e, ok := res.(*messages.Enqueued)
	if !ok {
		h.t.Fatalf("enqueue answered %T, want *messages.Enqueued", res)
	}
	return e
}

// mustEnqueue enqueues each message as its own request and fails on any refusal.
func (h *harness) mustEnqueue(stream *actor.PID, from, to int) {
	h.t.Helper()
	for n := from; n <= to; n++ {
		if e := h.enqueue(stream, cmd(n)); e.Err != nil {
			h.t.Fatalf("enqueue %s: %v", cmd(n), e.Err)
		}
	}
}

// outboundN is the n of every outbound message the upstream received, in arrival order.
func outboundN(up *upstream.Server) []int {
	var out []int
	for _, m := range up.Outbound() {
		n, _ := m["n"].(float64)
		out = append(out, int(n))
	}
	return out
}

// awaitOutbound waits until the upstream received exactly want (by n), in that order.
func (h *harness) awaitOutbound(want ...int) {
	h.t.Helper()
	h.up.Await(h.t, fmt.Sprintf("%d outbound messages", len(want)), func() bool { return len(h.up.Outbound()) >= len(want) })
	if got := outboundN(h.up); fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Fatalf("upstream received %v, want %v", got, want)
	}
}

// metric sums the counters and gauges named holdfast_<name> whose labels include every
// name, value pair in labels; 0 when there is none.
func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.m.Registry().Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "holdfast_"+name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// awaitMetric waits until metric(name, labels...) reaches at least want.
func (h *harness) awaitMetric(want float64, name string, labels ...string) {
	h.t.Helper()
	actortest.Eventually(h.t, fmt.Sprintf("%s%v >= %v", name, labels, want), func() bool { return h.metric(name, labels...) >= want })
}

// inFile advances clock in 10ms steps (the file sink flushes on it) until the events file
// holds at least n complete lines. It counts newlines only: a flush may end mid-line.
func (h *harness) inFile(clock *actortest.Clock, n int) {
	h.t.Helper()
	actortest.Eventually(h.t, fmt.Sprintf("%d events in the file", n), func() bool {
		clock.Advance(10 * time.Millisecond)
		b, _ := os.ReadFile(h.path("events.jsonl"))
		return bytes.Count(b, []byte("\n")) >= n
	})
}

// untilPolling moves clock through every reconnect backoff until the stream gives up and
// polls; it returns that polling state.
func (h *harness) untilPolling(clock *actortest.Clock) *messages.StreamState {
	h.t.Helper()
	for {
		st := actortest.Expect[*messages.StreamState](h.t, h.probe)
		switch st.State {
		case messages.StateBackoff:
			clock.Advance(st.RetryIn)
		case messages.StatePolling:
			return st
		case messages.StateFailed, messages.StateAuthFailed:
			h.t.Fatalf("stream %s before polling: %+v", st.State, st)
		}
	}
}

// lastState is the latest StreamState the stream reported; nil before any.
func (h *harness) lastState() *messages.StreamState {
	var last *messages.StreamState
	for _, m := range h.probe.Messages() {
		if st, ok := m.(*messages.StreamState); ok {
			last = st
		}
	}
	return last
}

// startStreamLogged is startStream with the stream's logs also written to the returned
// buffer, so a test can check what an operator would read.
func (h *harness) startStreamLogged(cfg *config.Config, name string) (*actor.PID, *actortest.Buffer) {
	h.t.Helper()
	logs := &actortest.Buffer{}
	env := h.env()
	env.Log = zerolog.New(io.MultiWriter(zerolog.NewTestWriter(h.t), logs)).Level(zerolog.DebugLevel)
	return h.spawnStream(env, cfg, name), logs
}
