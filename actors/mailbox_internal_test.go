package actors

import (
	"sync"
	"testing"
	"time"

	"holdfast/messages"
)

// A batch counts as the frames or events it carries: a sender waits until that many places
// are free, and one batch larger than the mailbox gets in only when it is empty.
func TestGateCountsBatchesByTheirSize(t *testing.T) {
	g := &gate{size: 10}
	g.cond = sync.NewCond(&g.mu)
	frames := func(n int) *messages.FramesReceived {
		return &messages.FramesReceived{Frames: make([]messages.FrameReceived, n)}
	}
	posted := func(m any) <-chan struct{} {
		done := make(chan struct{})
		go func() { g.MessagePosted(m); close(done) }()
		return done
	}
	waitFor := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still blocked", what)
		}
	}
	stillBlocked := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
			t.Fatalf("%s got in, want it to wait", what)
		case <-time.After(50 * time.Millisecond):
		}
	}

	a, b := frames(6), &messages.DeliverBatch{Events: make([]messages.Event, 3)}
	waitFor("6 frames into an empty mailbox", posted(a))
	waitFor("3 events next to them", posted(b))
	c := frames(4)
	pc := posted(c)
	stillBlocked("4 more frames into 9 of 10", pc)
	g.MessageReceived(b)
	waitFor("4 frames into 6 of 10", pc) // fits exactly
	g.MessageReceived(a)
	g.MessageReceived(c)
	if g.queued != 0 {
		t.Fatalf("queued = %d after receiving everything, want 0", g.queued)
	}
	waitFor("a batch of 25 into an empty mailbox of 10", posted(frames(25)))
	d := posted(&messages.Deliver{})
	stillBlocked("one message behind a batch larger than the mailbox", d)
	g.MessageReceived(frames(25))
	waitFor("one message once the big batch was taken", d)
}
