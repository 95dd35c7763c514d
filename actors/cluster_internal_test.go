package actors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/natstest"
)

// A stream that stops for a handover while its lease's renewal is out must be deleted on the
// revision that renewal leaves. Deleting on the revision held before it fails ("wrong last
// sequence") once the renewal has landed, and the lease is then left to expire: the next
// owner waits lease_ttl instead of one scan. The renewal is played here by hand, as the
// round's goroutine would run it, so the order is exact.
func TestHandoverDuringARenewalDeletesTheRenewedRevision(t *testing.T) {
	ns := natstest.Start(t)
	_, js := natstest.JetStream(t, ns.URL())
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "holdfast_leases", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	const key = leaseKeyPrefix + "s1"
	rev1, err := kv.Create(ctx, key, []byte(`{"instance":"a"}`))
	if err != nil {
		t.Fatal(err)
	}

	sys := actor.NewActorSystem()
	got := make(chan *releaseDone, 1)
	self := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*releaseDone); ok {
			got <- m
		}
	}))
	t.Cleanup(func() { _ = sys.Root.StopFuture(self).Wait() })
	clock := stillClock{time.Unix(0, 0)}
	c := &Cluster{log: zerolog.Nop(), env: Env{Clock: clock, Metrics: metrics.New()}, instance: "a",
		cfg: ClusterConfig{Streams: []string{"s1"}, Cursors: NewKVCursors()}, ttl: 3 * time.Second,
		renewEvery: time.Second, fenceAfter: 2 * time.Second, scanEvery: time.Second,
		self: self, root: sys.Root, kv: kv, gen: 1, held: map[string]*lease{}, stopping: map[string]bool{},
		owners: map[string]messages.StreamOwner{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() { c.cancel(); c.wg.Wait() })

	l := &lease{rev: rev1, epoch: rev1, releasing: true}
	c.held["s1"] = l
	// A round collected the renewal (startRound) and its goroutine has written it.
	l.renewing = true
	rev2, err := kv.Update(ctx, key, []byte(`{"instance":"a"}`), rev1)
	if err != nil {
		t.Fatal(err)
	}
	c.busy = true

	c.streamStopped("s1") // the stream's stop for the handover comes back first
	select {
	case m := <-got:
		t.Fatalf("deleted on revision %d while the renewal was out (err %v)", m.rev, m.err)
	default:
	}
	c.roundDone(&roundDone{gen: 1, renewed: []renewResult{{stream: "s1", oldRev: rev1, rev: rev2, sentAt: clock.Now()}}})

	select {
	case m := <-got:
		if m.err != nil || m.rev != rev2 {
			t.Fatalf("lease delete on revision %d: %v; want revision %d, no error", m.rev, m.err, rev2)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lease was never deleted")
	}
	if _, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("lease key after the handover: %v; want it gone", err)
	}
}

// stillClock is a clock that never moves and whose timers never fire: the test drives the
// actor's methods itself.
type stillClock struct{ now time.Time }

func (c stillClock) Now() time.Time                        { return c.now }
func (c stillClock) AfterFunc(time.Duration, func()) Timer { return stillTimer{} }

type stillTimer struct{}

func (stillTimer) Stop() bool { return true }
