package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// BoundedMailbox is a mailbox holding at most size user messages whose senders wait on a
// condition variable while it is full. protoactor-go's own actor.Bounded spins in its ring
// buffer's Put instead, so a router held back by a slow sink would burn a core doing nothing.
// System messages are never held back, and once Stop is posted nobody waits any more, so a
// sender blocked on a stopped actor cannot leak. extra middlewares run after the gate.
func BoundedMailbox(size int, extra ...actor.MailboxMiddleware) actor.MailboxProducer {
	return func() actor.Mailbox {
		g := &gate{size: size}
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
}

func (g *gate) MessagePosted(m any) {
	switch m.(type) {
	case *actor.Stop:
		g.mu.Lock()
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
}

func (*gate) MailboxStarted() {}
func (*gate) MailboxEmpty()   {}
