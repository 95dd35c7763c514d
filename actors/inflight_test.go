package actors

import (
	"testing"
	"time"
)

func TestInflightWaitsForRoom(t *testing.T) {
	b := NewInflight(100)
	b.acquire(60, nil)
	b.add(30) // a hand-off to a sink never waits
	got := make(chan struct{})
	go func() {
		b.acquire(20, nil) // 90 + 20 > 100: waits
		close(got)
	}()
	select {
	case <-got:
		t.Fatalf("acquire(20) with 90 of 100 held returned at once")
	case <-time.After(50 * time.Millisecond): // a window to catch one that did not wait
	}
	b.release(60)
	<-got
	if u := b.Used(); u != 50 {
		t.Errorf("used = %d, want 50", u)
	}
}

func TestInflightLetsOneLargeFramePass(t *testing.T) {
	b := NewInflight(100)
	b.acquire(500, nil) // nothing held: a frame over the bound passes alone
	abort := make(chan struct{})
	got := make(chan struct{})
	go func() {
		b.acquire(1, abort)
		close(got)
	}()
	select {
	case <-got:
		t.Fatalf("acquire(1) while 500 of 100 are held returned at once")
	case <-time.After(50 * time.Millisecond):
	}
	close(abort) // the mailbox stops: the post gives up waiting
	<-got
	if u := b.Used(); u != 501 {
		t.Errorf("used = %d, want 501", u)
	}
	var none *Inflight // no bound
	none.acquire(1<<40, nil)
	none.release(5)
	if NewInflight(0) != nil {
		t.Errorf("NewInflight(0) bounds something, want nil")
	}
}
