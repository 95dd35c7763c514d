package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"holdfast/messages"
)

// BoundedMailbox is a mailbox holding at most size user messages whose senders wait on a
// condition variable while it is full. protoactor-go's own actor.Bounded spins in its ring
// buffer's Put instead, so a router held back by a slow sink would burn a core doing nothing.
// System messages are never held back, and once Stop is posted nobody waits any more, so a
// sender blocked on a stopped actor cannot leak. extra middlewares run after the gate.
func BoundedMailbox(size int, extra ...actor.MailboxMiddleware) actor.MailboxProducer {
	return BudgetedMailbox(size, nil, extra...)
}

// BudgetedMailbox is BoundedMailbox whose events also count against the stream's byte
// bound (see Inflight): posting a FrameReceived waits for room, a Deliver is charged without
// waiting, and a FrameReceived is released once the actor takes it. A Deliver is released by
// the sink when it is done with the event.
func BudgetedMailbox(size int, budget *Inflight, extra ...actor.MailboxMiddleware) actor.MailboxProducer {
	return func() actor.Mailbox {
		g := &gate{size: size, budget: budget, stopped: make(chan struct{})}
		g.cond = sync.NewCond(&g.mu)
		return actor.Unbounded(append([]actor.MailboxMiddleware{g}, extra...)...)()
	}
}

// gate counts the user messages in one mailbox. MessagePosted runs on the sender's goroutine
// before the message is queued, which is what lets it block the sender.
type gate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	size   int
	queued int
	closed bool // Stop was posted: never block again

	budget  *Inflight     // the stream's byte bound; nil = none
	stopped chan struct{} // closed with closed: a post waiting on the budget gives up
}

func (g *gate) MessagePosted(m any) {
	switch m.(type) {
	case *actor.Stop:
		g.mu.Lock()
		if !g.closed {
			close(g.stopped)
		}
		g.closed = true
		g.cond.Broadcast()
		g.mu.Unlock()
		return
	case actor.SystemMessage, *actor.SuspendMailbox, *actor.ResumeMailbox:
		return
	}
	g.mu.Lock()
	for g.queued >= g.size && !g.closed {
		g.cond.Wait()
	}
	g.queued++
	g.mu.Unlock()
	switch m := actor.UnwrapEnvelopeMessage(m).(type) {
	case *messages.FrameReceived:
		g.budget.acquire(int64(len(m.Data)), g.stopped)
	case *messages.Deliver:
		g.budget.add(int64(len(m.Event.Line)))
	}
}

func (g *gate) MessageReceived(m any) {
	switch m.(type) {
	case *actor.Restart:
		// The user message whose handler panicked was never reported received: give its
		// place back, or every crash would shrink the mailbox by one.
	case actor.SystemMessage, *actor.SuspendMailbox, *actor.ResumeMailbox:
		return
	}
	g.mu.Lock()
	if g.queued > 0 {
		g.queued--
	}
	g.cond.Signal()
	g.mu.Unlock()
	if f, ok := actor.UnwrapEnvelopeMessage(m).(*messages.FrameReceived); ok {
		g.budget.release(int64(len(f.Data)))
	}
}

func (*gate) MailboxStarted() {}
func (*gate) MailboxEmpty()   {}
