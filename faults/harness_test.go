package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"holdfast/actors"
	"holdfast/actors/actortest"
	"holdfast/messages"
	"holdfast/supervisor"
	"holdfast/testsupport"
	"holdfast/upstream"
)

func TestMain(m *testing.M) {
	// toxiproxy looks toxic types up by name in its package registry; this is its documented
	// way to add one (CREATING_TOXICS.md), done once before any test runs.
	toxics.Register(cutToxicType, new(cutToxic))
	// protoactor starts this goroutine at the first dead letter (a stop racing a timer's
	// send) and it ends by itself after the system's DeadLetterThrottleInterval, 1 s, with
	// nothing to stop it sooner; goleak's own retries span about half a second.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

// rig is one loopback upstream, a toxiproxy in front of it, an actor system with a status
// probe, and a state dir. The stream dials the proxy, never the upstream itself.
type rig struct {
	t     *testing.T
	up    *upstream.Server
	proxy *toxiproxy.Proxy
	sys   *actor.ActorSystem
	probe *actortest.Probe
	dir   string
	rnd   *rand.Rand
}

// newRig starts the upstream and the proxy; both stop in t.Cleanup, after the stream.
func newRig(t *testing.T, opts upstream.Options) *rig {
	t.Helper()
	seed := testSeed(t)
	opts.Seed = seed
	up := upstream.NewTest(t, opts)
	sys, probe := actortest.NewSystem(t)
	// toxiproxy logs every link it opens and closes, also after a test has ended: keep it
	// away from t.Log, which panics once the test is over.
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "upstream", "127.0.0.1:0", up.Addr())
	if err := p.Start(); err != nil {
		t.Fatalf("start proxy: %v", err)
	}
	t.Cleanup(p.Stop) // closes every link, so the toxics' goroutines see their input end
	return &rig{t: t, up: up, proxy: p, sys: sys, probe: probe, dir: t.TempDir(),
		rnd: rand.New(rand.NewPCG(seed, 0x6661756c7473))}
}

// testSeed is HOLDFAST_FAULTS_SEED when set, else a fresh one; it is logged so that a failure
// names it. It seeds the upstream and the test's own choices (toxiproxy draws from its own
// global source, so a seed does not replay a run exactly).
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("HOLDFAST_FAULTS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HOLDFAST_FAULTS_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (HOLDFAST_FAULTS_SEED=%d replays the test's own choices)", seed, seed)
	return seed
}

// proxyURL is the stream's URL: the proxy's address with the upstream's path.
func (r *rig) proxyURL() string { return "ws://" + r.proxy.Listen + "/ws" }

// streamKeys and streamTables make the rig's stream (actortest.Stream) go through the proxy
// with short timeouts, the cursor on seq and short reconnect delays; frames that cannot be
// routed go to "rejects", which must stay empty. start appends the body of [stream.heartbeat].
const (
	streamKeys = `
handshake_timeout = "500ms"
write_timeout = "2s"`
	streamTables = `
  [stream.reconnect]
  initial_delay = "50ms"
  max_delay = "500ms"
  jitter = "none"
  [stream.cursor]
  field = "seq"
  subscribe_key = "since"
  [stream.heartbeat]
`
)

// start spawns the stream with heartbeat settings (TOML lines) and stops it, draining, in
// t.Cleanup before the proxy and the upstream go.
func (r *rig) start(heartbeat string) {
	r.t.Helper()
	cfg := actortest.Stream{Dir: r.dir, URL: r.proxyURL(), Keys: streamKeys, Subscribe: true,
		Tables: streamTables + heartbeat}.Config(r.t)
	env := actortest.Env(r.t, actors.SystemClock{}, r.probe.PID)
	env.Log = env.Log.Level(zerolog.InfoLevel)
	actortest.SpawnNamed(r.t, r.sys, supervisor.StreamProps(env, supervisor.StreamConfigs(cfg, os.Stdout)[0]), "s1")
}

func (r *rig) path(name string) string { return filepath.Join(r.dir, name) }

// toxic is the JSON form toxiproxy's API takes.
type toxic struct {
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Stream     string  `json:"stream"`   // upstream (client → server) or downstream
	Toxicity   float32 `json:"toxicity"` // share of links it acts on; always sent, so 0 means 0
	Attributes any     `json:"attributes"`
}

// addToxic adds tx to the proxy: to every open link and every later one.
func (r *rig) addToxic(tx toxic) {
	r.t.Helper()
	b, err := json.Marshal(tx)
	if err != nil {
		r.t.Fatalf("encode toxic: %v", err)
	}
	if _, err := r.proxy.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
		r.t.Fatalf("add toxic %s: %v", tx.Name, err)
	}
}

// addBoth adds tx to both directions, named name_up and name_down.
func (r *rig) addBoth(name, typ string, attrs any) {
	r.t.Helper()
	r.addToxic(toxic{Name: name + "_up", Type: typ, Stream: "upstream", Toxicity: 1, Attributes: attrs})
	r.addToxic(toxic{Name: name + "_down", Type: typ, Stream: "downstream", Toxicity: 1, Attributes: attrs})
}

func (r *rig) removeToxic(name string) {
	r.t.Helper()
	if err := r.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
		r.t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// publishAsync publishes n events from a goroutine, because Publish blocks
// while the subscribed connection is behind. The channel closes when all are published; the
// upstream's Close (in t.Cleanup) releases a publisher that is still blocked.
func (r *rig) publishAsync(n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			r.up.Publish("processing_progress", map[string]any{"job": "job-1", "progress": float64(i) / float64(n)})
		}
	}()
	return done
}

// states returns the stream's state changes so far.
func (r *rig) states() []*messages.StreamState {
	var out []*messages.StreamState
	for _, m := range r.probe.Messages() {
		if st, ok := m.(*messages.StreamState); ok {
			out = append(out, st)
		}
	}
	return out
}

// count returns how many state changes to state the stream has reported.
func (r *rig) count(state string) int {
	n := 0
	for _, st := range r.states() {
		if st.State == state {
			n++
		}
	}
	return n
}

// connected reports whether the latest state is connected.
func (r *rig) connected() bool {
	sts := r.states()
	return len(sts) > 0 && sts[len(sts)-1].State == messages.StateConnected
}

// lineCount counts the lines a file sink has written so far; a missing file has none.
func (r *rig) lineCount(name string) int {
	b, err := os.ReadFile(r.path(name))
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte{'\n'})
}

// waitFor polls cond until it holds and fails the test after d; what names the condition.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	testsupport.Eventually(t, what, d, cond)
}

// closed reports whether ch is closed, for waitFor.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// finish waits for every one of n events to reach the file sink and checks that each seq
// 1..n is there exactly once and that nothing was dead-lettered.
func (r *rig) finish(n int, d time.Duration) {
	r.t.Helper()
	r.t.Cleanup(func() {
		if r.t.Failed() {
			r.t.Log(r.describe())
		}
	})
	waitFor(r.t, fmt.Sprintf("%d events in the file sink", n), d, func() bool { return r.lineCount("events.jsonl") >= n })
	if p := actortest.ExactlyOnce(r.seqs(), uint64(n)); p != "" {
		r.t.Fatalf("file sink after %d reconnects: %s", r.count(messages.StateBackoff), p)
	}
	if k := r.lineCount("rejects.jsonl"); k != 0 {
		b, _ := os.ReadFile(r.path("rejects.jsonl"))
		r.t.Fatalf("%d frames dead-lettered, want 0 (a frame was corrupted on the way): %.500s", k, b)
	}
	r.t.Logf("%d events exactly once after %d reconnects, %d handshakes",
		n, r.count(messages.StateBackoff), r.up.Handshakes())
}

// line is what the tests read back from an event line of the file sink.
type line struct {
	Seq      uint64
	SentAt   int64     // upstream's unix nanoseconds
	Received time.Time // the envelope's received_at
}

// lines parses every event line of the file sink.
func (r *rig) lines() []line {
	r.t.Helper()
	f, err := os.Open(r.path("events.jsonl"))
	if err != nil {
		r.t.Fatalf("events: %v", err)
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l struct {
			ReceivedAt time.Time `json:"received_at"`
			Message    struct {
				Seq    uint64 `json:"seq"`
				SentAt int64  `json:"sent_at"`
			} `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			r.t.Fatalf("events: line %.200q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, line{Seq: l.Message.Seq, SentAt: l.Message.SentAt, Received: l.ReceivedAt})
	}
	if err := sc.Err(); err != nil {
		r.t.Fatalf("events: %v", err)
	}
	return out
}

// describe sums up the upstream, the stream and the sink for a failure message.
func (r *rig) describe() string {
	var rs *messages.RouterStats
	for _, m := range r.probe.Messages() {
		if st, ok := m.(*messages.RouterStats); ok {
			rs = st
		}
	}
	var last struct {
		Message struct{ Seq uint64 } `json:"message"`
	}
	if b, err := os.ReadFile(r.path("events.jsonl")); err == nil {
		b = bytes.TrimSpace(b)
		_ = json.Unmarshal(b[bytes.LastIndexByte(b, '\n')+1:], &last) // 0 when there is none
	}
	return fmt.Sprintf("upstream: last seq %d, %d conns, %d subscribed, %d handshakes, subscriptions %v; "+
		"router: %+v; sink: %d lines, the last with seq %d", r.up.LastSeq(), r.up.Conns(), r.up.Subscribed(),
		r.up.Handshakes(), r.up.Subscriptions(), rs, r.lineCount("events.jsonl"), last.Message.Seq)
}

// seqs returns the seq of every event line's message in the file sink.
func (r *rig) seqs() []uint64 {
	r.t.Helper()
	var out []uint64
	for _, l := range r.lines() {
		out = append(out, l.Seq)
	}
	return out
}
