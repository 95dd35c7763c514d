package actortest

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"holdfast/testsupport"
)

// Timeout bounds every wait in Expect, Eventually and Clock.AwaitTimer. Each of them returns
// as soon as its condition holds, so the bound costs nothing when a test passes; it is
// generous because CI runs the race-built suite on two loaded cores, where a 5 s bound
// failed correct code (a stalled sink's 10,000-event backlog, a pong under load).
const Timeout = 30 * time.Second

// Probe records every user message sent to its PID, in order.
type Probe struct {
	PID *actor.PID

	mu   sync.Mutex
	msgs []any
	next int // index of the first message Expect has not consumed
	note chan struct{}
}

// NewSystem builds an actor system whose library logs are discarded, and a probe actor on it.
// The system is shut down in t.Cleanup.
func NewSystem(t testing.TB) (*actor.ActorSystem, *Probe) {
	t.Helper()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}), actor.WithDeadLetterThrottleInterval(time.Millisecond)) // its timer goroutine ends at once, for goleak
	p := &Probe{note: make(chan struct{}, 1)}
	p.PID = sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case actor.SystemMessage, actor.AutoReceiveMessage:
			return
		}
		p.mu.Lock()
		p.msgs = append(p.msgs, ctx.Message())
		p.mu.Unlock()
		select {
		case p.note <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(func() { sys.Shutdown() })
	return sys, p
}

// Messages returns a copy of everything recorded so far.
func (p *Probe) Messages() []any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]any(nil), p.msgs...)
}

// Expect waits for the next recorded message of type T, skipping others, and returns it.
func Expect[T any](t testing.TB, p *Probe) T {
	t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for p.next < len(p.msgs) {
			m := p.msgs[p.next]
			p.next++
			if v, ok := m.(T); ok {
				p.mu.Unlock()
				return v
			}
		}
		p.mu.Unlock()
		select {
		case <-p.note:
		case <-deadline.C:
			var zero T
			t.Fatalf("no %T within %v; got %s", zero, Timeout, describe(p.Messages()))
			return zero
		}
	}
}

// Eventually waits until cond holds, checking every few milliseconds, and fails after Timeout.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testsupport.Eventually(t, what, Timeout, cond)
}

func describe(msgs []any) string {
	s := ""
	for i, m := range msgs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%T", m)
	}
	return "[" + s + "]"
}
