package main

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/actors/actortest"
	"holdfast/messages"
	"holdfast/notify"
	"holdfast/testsupport"
)

// stuckRoot answers GetStatus like the daemon root, except that while stuck is set it
// blocks in Receive until release is closed: a wedged actor system.
type stuckRoot struct {
	stuck   *atomic.Bool
	release <-chan struct{}
}

func (r *stuckRoot) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*messages.GetStatus); ok {
		if r.stuck.Load() {
			<-r.release
		}
		ctx.Respond(&messages.Status{})
	}
}

func TestWatchdogWithheldWhileRootIsStuck(t *testing.T) {
	conn := testsupport.NotifySocket(t)
	// Each probe gets half of this, 500ms: an answering root must answer within it, also on
	// a loaded machine; the stuck root's three probes then take 1.5s.
	t.Setenv("WATCHDOG_USEC", "1000000")
	t.Setenv("WATCHDOG_PID", "")
	next := func() string { t.Helper(); return testsupport.NextDatagram(t, conn) }

	sys, _ := actortest.NewSystem(t)
	stuck, release := &atomic.Bool{}, make(chan struct{})
	var once sync.Once
	unstick := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unstick) // before the system shuts down (cleanups run last-in first-out)
	root := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &stuckRoot{stuck: stuck, release: release} }))
	be := &backend{sys: sys, root: root}

	n := notify.New(zerolog.New(zerolog.NewTestWriter(t)))
	if got := n.WatchdogInterval(); got != time.Second {
		t.Fatalf("WatchdogInterval() = %v, want 1s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tick, done := make(chan time.Time), make(chan struct{})
	go func() { defer close(done); n.RunWatchdog(ctx, tick, be.Ping) }()
	t.Cleanup(func() { cancel(); <-done })

	tick <- time.Time{}
	if got := next(); got != "WATCHDOG=1" {
		t.Fatalf("answering root: datagram %q, want WATCHDOG=1", got)
	}

	stuck.Store(true)
	// tick is unbuffered: each send returns only after the previous probe finished, so after
	// the fourth send three probes of the stuck root have run (and timed out).
	for range 4 {
		tick <- time.Time{}
	}
	n.Status("marker") // any ping from those probes would come before it
	if got := next(); got != "STATUS=marker" {
		t.Fatalf("stuck root: datagram %q, want no WATCHDOG=1 before STATUS=marker", got)
	}

	stuck.Store(false)
	unstick()
	tick <- time.Time{}
	if got := next(); !strings.HasPrefix(got, "WATCHDOG=1") {
		t.Fatalf("after release: datagram %q, want WATCHDOG=1", got)
	}
}
