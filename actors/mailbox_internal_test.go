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

// The router gives a batch's frames back for reuse (cleared) before the mailbox hears that
// it took the message: the bytes the gate releases must still be the ones it charged.
func TestGateReleasesWhatItChargedAfterTheFramesAreReused(t *testing.T) {
	budget := NewInflight(1 << 20)
	g := &gate{size: 1000, budget: budget, stopped: make(chan struct{})}
	g.cond = sync.NewCond(&g.mu)
	frames := framePool.get()
	var size int64
	for range 3 {
		frames = append(frames, messages.FrameReceived{Data: make([]byte, 100)})
		size += 100
	}
	msg := &messages.FramesReceived{Frames: frames, Bytes: size}
	g.MessagePosted(msg)
	if u := budget.Used(); u != 300 {
		t.Fatalf("charged %d bytes, want 300", u)
	}
	framePool.put(msg.Frames) // what Router.Receive does once it has routed them
	reused := framePool.get()
	_ = append(reused, messages.FrameReceived{Data: make([]byte, 7)}) // another batch writes the array
	g.MessageReceived(msg)
	if u := budget.Used(); u != 0 {
		t.Errorf("after the actor took the batch %d bytes are still charged, want 0", u)
	}
	if g.queued != 0 {
		t.Errorf("mailbox still counts %d messages, want 0", g.queued)
	}
}

// A slice given back is cleared, so it pins nothing; one of another capacity is not kept.
func TestBatchPoolClearsAndKeepsOnlyItsSize(t *testing.T) {
	p := newBatchPool[messages.Event](4)
	b := append(p.get(), messages.Event{Line: []byte("x"), Cursor: "7"})
	p.put(b)
	got := p.get()
	if len(got) != 0 || cap(got) != 4 {
		t.Fatalf("get after put = len %d cap %d, want an empty slice of capacity 4", len(got), cap(got))
	}
	if e := got[:1][0]; e.Line != nil || e.Cursor != "" {
		t.Errorf("a reused slice still holds %+v", e)
	}
	p.put(make([]messages.Event, 1, 9))
	if got := p.get(); cap(got) != 4 {
		t.Errorf("a slice of capacity 9 was kept: got capacity %d", cap(got))
	}
}
