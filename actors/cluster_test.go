package actors_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/natstest"
)

// fakeRoot runs streams as the Cluster actor asks and records every change.
type fakeRoot struct {
	mu      sync.Mutex
	running map[string]bool
	starts  []string
	stops   []string
	cluster *actor.PID
	hold    bool // StopStream is not answered while set
	held    []string
	cursors *actors.KVCursors
	onRun   func(stream string) // called under mu, as a stream's cursor actor would act
	onStop  func(stream string)
}

func (f *fakeRoot) receive(ctx actor.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch m := ctx.Message().(type) {
	case *messages.RunStream:
		f.running[m.Stream] = true
		f.starts = append(f.starts, m.Stream)
		if f.onRun != nil {
			f.onRun(m.Stream)
		}
	case *messages.StopStream:
		wasRunning := f.running[m.Stream]
		delete(f.running, m.Stream)
		f.stops = append(f.stops, m.Stream)
		if f.onStop != nil && wasRunning {
			f.onStop(m.Stream)
		}
		if f.hold {
			f.held = append(f.held, m.Stream)
			return
		}
		ctx.Send(f.cluster, &messages.StreamStopped{Stream: m.Stream})
	}
}

func (f *fakeRoot) Running() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for s := range f.running {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (f *fakeRoot) Stops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.stops)
}

var sixStreams = []string{"s1", "s2", "s3", "s4", "s5", "s6"}

const testTTL = 3 * time.Second

// startMember spawns a Cluster actor for instance on sys with its own fake root.
func startMember(t *testing.T, sys *actor.ActorSystem, clock actors.Clock, url, instance string, status ...*actor.PID) (*fakeRoot, *metrics.Metrics) {
	t.Helper()
	return startMemberWith(t, sys, clock, url, instance, nil, status...)
}

// startMemberWith is startMember with hooks set on the fake root before the actor starts.
func startMemberWith(t *testing.T, sys *actor.ActorSystem, clock actors.Clock, url, instance string, hooks func(*fakeRoot),
	status ...*actor.PID) (*fakeRoot, *metrics.Metrics) {
	t.Helper()
	return startMemberTTL(t, sys, clock, url, instance, testTTL, hooks, status...)
}

// startMemberTTL is startMemberWith with lease_ttl ttl.
func startMemberTTL(t *testing.T, sys *actor.ActorSystem, clock actors.Clock, url, instance string, ttl time.Duration,
	hooks func(*fakeRoot), status ...*actor.PID) (*fakeRoot, *metrics.Metrics) {
	t.Helper()
	cc := config.DefaultClusterConfig()
	cc.URLs, cc.Instance, cc.LeaseTTL = []string{url}, instance, config.Duration{Duration: ttl}
	f := &fakeRoot{running: map[string]bool{}, cursors: actors.NewKVCursors()}
	if hooks != nil {
		hooks(f)
	}
	rootPID := sys.Root.Spawn(actor.PropsFromFunc(f.receive))
	m := metrics.New()
	env := actors.Env{Log: zerolog.New(zerolog.NewTestWriter(t)).With().Str("test_instance", instance).Logger(),
		Clock: clock, Metrics: m}
	if len(status) > 0 {
		env.Status = status[0]
	}
	pid, err := sys.Root.SpawnNamed(actors.ClusterProps(env, actors.ClusterConfig{Cluster: cc, Streams: sixStreams,
		Root: rootPID, Cursors: f.cursors}), "cluster-"+instance)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.cluster = pid
	f.mu.Unlock()
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	return f, m
}

func leasesKV(t *testing.T, url string) jetstream.KeyValue {
	t.Helper()
	_, js := natstest.JetStream(t, url)
	var kv jetstream.KeyValue
	actortest.Eventually(t, "the leases bucket", func() bool {
		var err error
		kv, err = js.KeyValue(context.Background(), "holdfast_leases")
		return err == nil
	})
	return kv
}

func leaseOf(t *testing.T, kv jetstream.KeyValue, stream string) (owner string, rev uint64) {
	t.Helper()
	e, err := kv.Get(context.Background(), "stream."+stream)
	if err != nil {
		return "", 0
	}
	var v struct{ Instance string }
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.Fatalf("lease value %q: %v", e.Value(), err)
	}
	return v.Instance, e.Revision()
}

// scanned waits until instance reported a scan made at the clock's current time.
func scanned(t *testing.T, probe *actortest.Probe, clock *actortest.Clock, instance string) {
	t.Helper()
	now := clock.Now()
	actortest.Eventually(t, instance+" scanned at "+now.String(), func() bool {
		for _, msg := range probe.Messages() {
			if st, ok := msg.(*messages.ClusterState); ok && st.Instance == instance && st.LastScanAt.Equal(now) {
				return true
			}
		}
		return false
	})
}

// TestClusterTakesRenewsAndSelfFences: alone, an instance takes every lease and renews each
// by compare-and-set every ttl/3; cut off from NATS, it stops its streams exactly at
// ttl×2/3 after the last renewal was sent, on its own clock.
func TestClusterTakesRenewsAndSelfFences(t *testing.T) {
	ns, err := natstest.Run(natstest.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Stop()
	sys, probe := actortest.NewSystem(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	f, m := startMember(t, sys, clock, ns.URL(), "a", probe.PID)
	kv := leasesKV(t, ns.URL())
	actortest.Eventually(t, "all six streams running", func() bool { return len(f.Running()) == 6 })
	for _, s := range sixStreams {
		if owner, _ := leaseOf(t, kv, s); owner != "a" {
			t.Fatalf("lease %s held by %q, want a", s, owner)
		}
	}
	if got := testutilValue(m, "holdfast_cluster_lease_acquisitions_total"); got != 6 {
		t.Errorf("acquisitions = %v, want 6", got)
	}
	// Taken at clock 0; renewals are due every ttl/3 = 1s and the scan runs every second.
	revs := map[string]uint64{}
	for _, s := range sixStreams {
		_, revs[s] = leaseOf(t, kv, s)
	}
	clock.Advance(time.Second)
	actortest.Eventually(t, "every lease renewed by compare-and-set at 1s", func() bool {
		for _, s := range sixStreams {
			if owner, rev := leaseOf(t, kv, s); owner != "a" || rev <= revs[s] {
				return false
			}
		}
		return true
	})
	actortest.Eventually(t, "the round at 1s applied", func() bool {
		for _, msg := range probe.Messages() {
			if st, ok := msg.(*messages.ClusterState); ok && st.LastScanAt.Equal(time.Unix(1, 0)) {
				return true
			}
		}
		return false
	})
	// Cut off from NATS, the last renewal was sent at 1s: the streams must stop at
	// 1s + ttl×2/3 = 3s, and not a moment before.
	ns.Stop()
	clock.Advance(2*time.Second - time.Millisecond)
	clock.AwaitTimer(t, time.Millisecond) // the fence timers are still pending: nothing fenced yet
	if stops := f.Stops(); len(stops) != 0 {
		t.Fatalf("stopped %v before ttl×2/3", stops)
	}
	clock.Advance(time.Millisecond)
	actortest.Eventually(t, "all six stopped at ttl×2/3", func() bool { return len(f.Running()) == 0 })
	if got := testutilValue(m, "holdfast_cluster_lease_losses_total"); got != 6 {
		t.Errorf("losses = %v, want 6", got)
	}
}

func testutilValue(m *metrics.Metrics, name string) float64 {
	mfs, err := m.Registry().Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, s := range mf.GetMetric() {
				sum += s.GetCounter().GetValue() + s.GetGauge().GetValue()
			}
			return sum
		}
	}
	return 0
}

// TestClusterHandsOverToANewInstance: a second instance joins an instance holding all six;
// the first hands three over gracefully (stop, then release), the second takes them, and no
// stream ever runs on both.
func TestClusterHandsOverToANewInstance(t *testing.T) {
	ns := natstest.Start(t)
	sys, probe := actortest.NewSystem(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	a, ma := startMember(t, sys, clock, ns.URL(), "a", probe.PID)
	actortest.Eventually(t, "a runs all six", func() bool { return len(a.Running()) == 6 })
	scanned(t, probe, clock, "a")
	b, _ := startMember(t, sys, clock, ns.URL(), "b", probe.PID)
	scanned(t, probe, clock, "b")
	// Time moves one scan period at a time, and only once both instances have scanned, so
	// renewals are never late on the manual clock.
	for step := 0; ; step++ {
		for _, s := range a.Running() {
			if slices.Contains(b.Running(), s) {
				t.Fatalf("stream %s runs on both instances", s)
			}
		}
		if len(a.Running()) == 3 && len(b.Running()) == 3 {
			break
		}
		if step == 10 {
			t.Fatalf("after %d scans a runs %v, b runs %v; want three each", step, a.Running(), b.Running())
		}
		clock.Advance(time.Second)
		scanned(t, probe, clock, "a")
		scanned(t, probe, clock, "b")
		actortest.Eventually(t, "streams started and stopped", func() bool { return len(a.Running())+len(b.Running()) <= 6 })
	}
	if got := testutilValue(ma, "holdfast_cluster_lease_losses_total"); got != 0 {
		t.Errorf("losses = %v, want 0", got)
	}
	if got := testutilValue(ma, "holdfast_cluster_handovers_total"); got != 3 {
		t.Errorf("handovers = %v, want 3", got)
	}
	if n := len(a.Stops()); n != 3 {
		t.Errorf("a stopped %d streams, want 3", n)
	}
}

// TestClusterWarnsOfAShortDuplicateWindow: at start, a JetStream whose duplicate window is
// shorter than the longest failover replay is reported in the cluster's status.
func TestClusterWarnsOfAShortDuplicateWindow(t *testing.T) {
	ns := natstest.Start(t)
	_, js := natstest.JetStream(t, ns.URL())
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "SHORT", Subjects: []string{"short.>"},
		Duplicates: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	sys, probe := actortest.NewSystem(t)
	cc := config.DefaultClusterConfig()
	cc.URLs, cc.Instance, cc.LeaseTTL = []string{ns.URL()}, "a", config.Duration{Duration: testTTL}
	f := &fakeRoot{running: map[string]bool{}}
	env := actors.Env{Log: zerolog.New(zerolog.NewTestWriter(t)), Clock: actortest.NewClock(time.Unix(0, 0)), Status: probe.PID}
	pid := sys.Root.Spawn(actors.ClusterProps(env, actors.ClusterConfig{Cluster: cc, Streams: sixStreams,
		Root: sys.Root.Spawn(actor.PropsFromFunc(f.receive)), Cursors: actors.NewKVCursors(), Replay: 45 * time.Second,
		JetStreams: []actors.JetStreamWindow{{Name: "SHORT"}}}))
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	actortest.Eventually(t, "a duplicate-window warning in status", func() bool {
		for _, msg := range probe.Messages() {
			if st, ok := msg.(*messages.ClusterState); ok && len(st.Warnings) == 1 &&
				strings.Contains(st.Warnings[0], "SHORT") && strings.Contains(st.Warnings[0], "10s") {
				return true
			}
		}
		return false
	})
}

func (f *fakeRoot) Starts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.starts)
}

// stepBoth advances the clock one scan period once both instances have scanned, so
// renewals are never late on the manual clock.
func stepBoth(t *testing.T, probe *actortest.Probe, clock *actortest.Clock, a, b *fakeRoot) {
	t.Helper()
	clock.Advance(time.Second)
	scanned(t, probe, clock, "a")
	scanned(t, probe, clock, "b")
	actortest.Eventually(t, "streams started and stopped", func() bool { return len(a.Running())+len(b.Running()) <= 6 })
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// TestClusterDefersAHandoverThatWouldLoseEvents: a stream whose stop for a handover left
// routed events that its checkpoint does not cover (the first stop of every stream here, as
// when a sink could not confirm them in the drain) keeps its lease and runs again on the
// same instance; the handover is tried again lease_ttl later, and only a stop that covered
// everything releases the lease. No stream runs on both instances at any time.
func TestClusterDefersAHandoverThatWouldLoseEvents(t *testing.T) {
	ns := natstest.Start(t)
	sys, probe := actortest.NewSystem(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	stops := map[string]int{}
	a, ma := startMemberWith(t, sys, clock, ns.URL(), "a", func(f *fakeRoot) {
		f.onRun = func(s string) { // a numeric-cursor stream: first event 42 routed, its predecessor saved
			if err := f.cursors.Save(s, "41"); err != nil {
				t.Errorf("save %s: %v", s, err)
			}
			f.cursors.Routed(s)
		}
		f.onStop = func(s string) {
			stops[s]++
			f.cursors.Stopped(s, stops[s] > 1) // the first drain leaves events uncovered
		}
	}, probe.PID)
	actortest.Eventually(t, "a runs all six", func() bool { return len(a.Running()) == 6 })
	scanned(t, probe, clock, "a")
	b, _ := startMember(t, sys, clock, ns.URL(), "b", probe.PID)
	scanned(t, probe, clock, "b")
	deferredSeen := false
	for step := 0; ; step++ {
		aRun, bRun := a.Running(), b.Running()
		a.mu.Lock()
		stopped := maps.Clone(stops)
		a.mu.Unlock()
		for _, s := range bRun {
			if slices.Contains(aRun, s) {
				t.Fatalf("stream %s runs on both instances", s)
			}
			if stopped[s] < 2 {
				t.Fatalf("b runs %s, which a stopped %d times: handed over after a stop that left events uncovered", s, stopped[s])
			}
		}
		if testutilValue(ma, "holdfast_cluster_handovers_deferred_total") >= 3 && len(b.Running()) == 0 {
			deferredSeen = true
		}
		if len(a.Running()) == 3 && len(b.Running()) == 3 {
			break
		}
		if step == 20 {
			t.Fatalf("after %d scans a runs %v, b runs %v; want three each", step, a.Running(), b.Running())
		}
		stepBoth(t, probe, clock, a, b)
	}
	if !deferredSeen {
		t.Error("never saw three or more deferred handovers while b ran nothing")
	}
	starts := a.Starts()
	for _, s := range b.Running() {
		if n := count(starts, s); n != 2 {
			t.Errorf("a started %s %d times, want 2 (taken, then run again after the deferred handover)", s, n)
		}
	}
	if got := testutilValue(ma, "holdfast_cluster_handovers_total"); got != 3 {
		t.Errorf("handovers = %v, want 3", got)
	}
	if got := testutilValue(ma, "holdfast_cluster_lease_losses_total"); got != 0 {
		t.Errorf("losses = %v, want 0", got)
	}
}

// TestClusterKeepsAStreamWithoutCheckpoint: a stream that routed events but has no
// checkpoint yet (a string cursor before its sinks confirmed anything) is not stopped for a
// handover: the next owner would have nothing to resume from. Once a checkpoint is saved,
// it is handed over as usual.
func TestClusterKeepsAStreamWithoutCheckpoint(t *testing.T) {
	ns := natstest.Start(t)
	sys, probe := actortest.NewSystem(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	a, _ := startMemberWith(t, sys, clock, ns.URL(), "a", func(f *fakeRoot) {
		f.onRun = func(s string) { f.cursors.Routed(s) }
		f.onStop = func(s string) { f.cursors.Stopped(s, true) }
	}, probe.PID)
	actortest.Eventually(t, "a runs all six", func() bool { return len(a.Running()) == 6 })
	scanned(t, probe, clock, "a")
	b, _ := startMember(t, sys, clock, ns.URL(), "b", probe.PID)
	scanned(t, probe, clock, "b")
	for range 5 {
		stepBoth(t, probe, clock, a, b)
		if stops := a.Stops(); len(stops) != 0 {
			t.Fatalf("a stopped %v for a handover, though none has a checkpoint", stops)
		}
	}
	if got := b.Running(); len(got) != 0 {
		t.Fatalf("b runs %v", got)
	}
	for _, s := range sixStreams {
		if err := a.cursors.Save(s, "e-1"); err != nil {
			t.Fatal(err)
		}
	}
	for step := 0; len(a.Running()) != 3 || len(b.Running()) != 3; step++ {
		if step == 10 {
			t.Fatalf("after %d scans a runs %v, b runs %v; want three each", step, a.Running(), b.Running())
		}
		stepBoth(t, probe, clock, a, b)
	}
}

// TestClusterRunsAStreamOnlyOnceItsCheckpointIsRead: a lease taken while the checkpoint
// cannot be read (here the cursors bucket's stream is gone) does not start the stream, which
// would then subscribe with no cursor; the read is tried again every scan, and the stream
// runs from the checkpoint once it can be read.
func TestClusterRunsAStreamOnlyOnceItsCheckpointIsRead(t *testing.T) {
	ns := natstest.Start(t)
	_, js := natstest.JetStream(t, ns.URL())
	ctx := context.Background()
	leases, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "holdfast_leases", Description: "holdfast stream leases",
		History: 1, TTL: testTTL, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sixStreams { // held by another instance until the test lets go
		if _, err := leases.Create(ctx, "stream."+s, []byte(`{"instance":"x"}`)); err != nil {
			t.Fatal(err)
		}
	}
	sys, probe := actortest.NewSystem(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	a, ma := startMember(t, sys, clock, ns.URL(), "a", probe.PID)
	scanned(t, probe, clock, "a")
	if err := js.DeleteStream(ctx, "KV_holdfast_cursors"); err != nil {
		t.Fatal(err)
	}
	for _, s := range sixStreams {
		if err := leases.Delete(ctx, "stream."+s); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Second)
	actortest.Eventually(t, "a holds all six leases", func() bool {
		return testutilValue(ma, "holdfast_cluster_lease_acquisitions_total") == 6
	})
	for range 2 { // reads fail at once (no such stream) and are tried again every scan
		clock.Advance(time.Second)
		scanned(t, probe, clock, "a")
		if got := a.Running(); len(got) != 0 {
			t.Fatalf("a runs %v while their checkpoints cannot be read", got)
		}
	}
	cursors, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "holdfast_cursors", History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cursors.PutString(ctx, "s1", "41"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	actortest.Eventually(t, "a runs all six once the reads succeed", func() bool { return len(a.Running()) == 6 })
	if v, err := a.cursors.Load("s1"); v != "41" || err != nil {
		t.Errorf("s1 runs from %q (%v), want 41", v, err)
	}
	if v, err := a.cursors.Load("s2"); v != "" || err != nil {
		t.Errorf("s2 runs from %q (%v), want no cursor", v, err)
	}
}

// TestClusterStopReleasesCoveredLeases: at a graceful stop, once the root has stopped the
// streams, the Cluster actor deletes the lease of each stopped stream whose final checkpoint
// covers what it routed (or that routed nothing) and withdraws the member key; a stream
// whose stop left routed events uncovered, or that had not finished stopping, keeps its
// lease, which expires. Another instance takes the released streams at its first scan.
func TestClusterStopReleasesCoveredLeases(t *testing.T) {
	ns := natstest.Start(t)
	sys, probe := actortest.NewSystem(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	const ttl = time.Minute // on the server's real clock: no lease expires during the test
	a, ma := startMemberTTL(t, sys, clock, ns.URL(), "a", ttl, func(f *fakeRoot) {
		f.onRun = func(s string) {
			if s == "s5" {
				return // routes nothing
			}
			if err := f.cursors.Save(s, "41"); err != nil { // a numeric cursor's first event's predecessor
				t.Errorf("save %s: %v", s, err)
			}
			f.cursors.Routed(s)
		}
	}, probe.PID)
	actortest.Eventually(t, "a runs all six", func() bool { return len(a.Running()) == 6 })
	scanned(t, probe, clock, "a")
	kv := leasesKV(t, ns.URL())
	revs := map[string]uint64{}
	for _, s := range sixStreams {
		owner, rev := leaseOf(t, kv, s)
		if owner != "a" {
			t.Fatalf("lease %s held by %q, want a", s, owner)
		}
		revs[s] = rev
	}
	// The root's graceful stop: each stream's cursor actor reports as it stops. s4's drain left
	// events its checkpoint does not cover; s6 has not finished stopping.
	for _, s := range []string{"s1", "s2", "s3", "s5"} {
		a.cursors.Stopped(s, true)
	}
	a.cursors.Stopped("s4", false)
	res, err := sys.Root.RequestFuture(a.cluster, &messages.ReleaseLeases{Running: []string{"s6"}, Timeout: 2 * time.Second},
		10*time.Second).Result()
	if err != nil {
		t.Fatalf("release: %v", err)
	}
	got, _ := res.(*messages.LeasesReleased)
	if got == nil || !slices.Equal(got.Released, []string{"s1", "s2", "s3", "s5"}) || !slices.Equal(got.Kept, []string{"s4", "s6"}) {
		t.Fatalf("release answered %+v, want released [s1 s2 s3 s5], kept [s4 s6]", res)
	}
	for _, s := range sixStreams {
		owner, rev := leaseOf(t, kv, s)
		switch s {
		case "s4", "s6":
			if owner != "a" || rev != revs[s] {
				t.Errorf("lease %s: owner %q rev %d, want kept by a at rev %d", s, owner, rev, revs[s])
			}
		default:
			if owner != "" {
				t.Errorf("lease %s still held by %q after the release", s, owner)
			}
		}
	}
	if _, err := kv.Get(context.Background(), "member.a"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("member key of a: %v, want it withdrawn", err)
	}
	if got := testutilValue(ma, "holdfast_cluster_stop_releases_total"); got != 4 {
		t.Errorf("stop releases = %v, want 4", got)
	}
	if got := testutilValue(ma, "holdfast_cluster_handovers_total"); got != 0 {
		t.Errorf("handovers = %v, want 0 (a stop is counted apart)", got)
	}
	clock.Advance(time.Second) // a scan period: a stopping instance neither scans nor takes
	if n := len(a.Starts()); n != 6 {
		t.Errorf("a started %d streams, want only the first six", n)
	}
	if err := sys.Root.StopFuture(a.cluster).Wait(); err != nil {
		t.Fatal(err)
	}

	b, _ := startMemberTTL(t, sys, clock, ns.URL(), "b", ttl, nil, probe.PID)
	scanned(t, probe, clock, "b")
	actortest.Eventually(t, "b runs the four released streams", func() bool {
		return slices.Equal(b.Running(), []string{"s1", "s2", "s3", "s5"})
	})
}

// TestClusterStopReleaseWithoutNATSDoesNotHang: with NATS gone at a graceful stop, the
// release answers within its timeout, keeping every lease (they expire), and the actor stops.
func TestClusterStopReleaseWithoutNATSDoesNotHang(t *testing.T) {
	ns, err := natstest.Run(natstest.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Stop()
	sys, probe := actortest.NewSystem(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	a, ma := startMember(t, sys, clock, ns.URL(), "a", probe.PID)
	actortest.Eventually(t, "a runs all six", func() bool { return len(a.Running()) == 6 })
	for _, s := range sixStreams {
		a.cursors.Stopped(s, true)
	}
	ns.Stop()
	res, err := sys.Root.RequestFuture(a.cluster, &messages.ReleaseLeases{Timeout: time.Second}, 10*time.Second).Result()
	if err != nil {
		t.Fatalf("release without NATS: %v", err)
	}
	if got, _ := res.(*messages.LeasesReleased); got == nil || len(got.Released) != 0 || !slices.Equal(got.Kept, sixStreams) {
		t.Errorf("release answered %+v, want every lease kept", res)
	}
	if got := testutilValue(ma, "holdfast_cluster_stop_releases_total"); got != 0 {
		t.Errorf("stop releases = %v, want 0", got)
	}
	if err := sys.Root.StopFuture(a.cluster).Wait(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
