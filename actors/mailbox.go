package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"holdfast/messages"
)

// BoundedMailbox is a mailbox holding at most size user messages whose senders wait on a
// condition variable while it is full. protoactor-go's own actor.Bounded spins in its ring
// buffer's Put instead, so a router held back by a slow sink would burn a core doing nothing.
// A batch (messages.FramesReceived, messages.DeliverBatch) counts as the number of frames or
// events it carries, so batching changes nothing about how much a mailbox holds; a batch
// larger than size is let in only when the mailbox is empty. System messages are never held
// back, and once Stop is posted nobody waits any more, so a sender blocked on a stopped actor
// cannot leak. extra middlewares run after the gate.
func BoundedMailbox(size int, extra ...actor.MailboxMiddleware) actor.MailboxProducer {
	return BudgetedMailbox(size, nil, extra...)
}

// BudgetedMailbox is BoundedMailbox whose events also count against the stream's byte
// bound (see Inflight): posting a FrameReceived or FramesReceived waits for room, a Deliver
// or DeliverBatch is charged without waiting, and frames are released once the actor takes
// them. Delivered events are released by the sink when it is done with them.
func BudgetedMailbox(size int, budget *Inflight, extra ...actor.MailboxMiddleware) actor.MailboxProducer {
	return func() actor.Mailbox {
		g := &gate{size: size, budget: budget, stopped: make(chan struct{})}
		g.cond = sync.NewCond(&g.mu)
		return actor.Unbounded(append([]actor.MailboxMiddleware{g}, extra...)...)()
	}
}

// maxWeight is the most a single message counts for: the largest batch the reader and the
// router build (readBatchMax).
const maxWeight = readBatchMax

// weight is what a user message counts for in a bounded mailbox.
func weight(m any) int {
	if e, ok := m.(*actor.MessageEnvelope); ok {
		m = e.Message
	}
	switch m := m.(type) {
	case *messages.FramesReceived:
		return max(len(m.Frames), 1)
	case *messages.DeliverBatch:
		return max(len(m.Events), 1)
	}
	return 1
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
	w := weight(m)
	g.mu.Lock()
	for g.queued > 0 && g.queued+w > g.size && !g.closed {
		g.cond.Wait()
	}
	g.queued += w
	g.mu.Unlock()
	switch m := actor.UnwrapEnvelopeMessage(m).(type) {
	case *messages.FrameReceived:
		g.budget.acquire(int64(len(m.Data)), g.stopped)
	case *messages.FramesReceived:
		g.budget.acquire(frameBytes(m), g.stopped)
	case *messages.Deliver:
		g.budget.add(int64(len(m.Event.Line)))
	case *messages.DeliverBatch:
		var n int64
		for i := range m.Events {
			n += int64(len(m.Events[i].Line))
		}
		g.budget.add(n)
	}
}

// frameBytes is what a batch of frames counts against the byte bound. It is read from the
// message rather than its frames: by the time the actor has taken the message, it has given
// the frames back for reuse (see batchPool).
func frameBytes(m *messages.FramesReceived) int64 { return m.Bytes }

func (g *gate) MessageReceived(m any) {
	w := 0
	switch m.(type) {
	case *actor.Restart:
		// The user message whose handler panicked was never reported received, and which one
		// it was is not known here: give back as much as any message can hold. Counting too
		// little would shrink the mailbox for good; too much only until it next runs empty,
		// since the count stops at zero.
		w = maxWeight
	case actor.SystemMessage, *actor.SuspendMailbox, *actor.ResumeMailbox:
		return
	default:
		w = weight(m)
	}
	g.mu.Lock()
	g.queued = max(g.queued-w, 0)
	g.cond.Broadcast() // a batch may free room for several waiting senders
	g.mu.Unlock()
	switch m := actor.UnwrapEnvelopeMessage(m).(type) {
	case *messages.FrameReceived:
		g.budget.release(int64(len(m.Data)))
	case *messages.FramesReceived:
		g.budget.release(frameBytes(m))
	}
}

func (*gate) MailboxStarted() {}
func (*gate) MailboxEmpty()   {}
