package actors

import "sync"

// Inflight bounds the bytes of the events a stream holds between its reader and its sinks
// (max_inflight_bytes). The router's and the sinks' mailboxes share it: a frame posted to the
// router waits while the stream is over the bound, as a post to a full mailbox waits; a
// frame's bytes are released once the router takes it, and the envelope it becomes is
// charged to each sink it goes to until that sink is done with it. Only the post of a frame
// waits, never the router's hand-off to a sink, so no two actors wait on each other; the
// bound is therefore kept at each new frame: the stream holds at most the bound plus one
// frame (a frame larger than the bound passes alone, when nothing else is held).
//
// Safe for concurrent use. A nil *Inflight bounds nothing.
type Inflight struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	waiting int           // acquires waiting for room
	changed chan struct{} // closed and replaced when used falls while someone waits
}

// NewInflight returns a bound of limit bytes; limit <= 0 bounds nothing (nil).
func NewInflight(limit int64) *Inflight {
	if limit <= 0 {
		return nil
	}
	return &Inflight{limit: limit, changed: make(chan struct{})}
}

// acquire charges n bytes, first waiting while the stream holds something and n more would
// pass the limit. It gives up waiting, and charges anyway, once abort is closed.
func (b *Inflight) acquire(n int64, abort <-chan struct{}) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	for b.used > 0 && b.used+n > b.limit {
		ch := b.changed
		b.waiting++
		b.mu.Unlock()
		aborted := false
		select {
		case <-ch:
		case <-abort:
			aborted = true
		}
		b.mu.Lock()
		b.waiting--
		if aborted {
			break
		}
	}
	b.used += n
	b.mu.Unlock()
}

// add charges n bytes without waiting.
func (b *Inflight) add(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

// release gives n bytes back and wakes the waiters.
func (b *Inflight) release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	b.used = max(b.used-n, 0)
	if b.waiting > 0 { // no allocation per release while nobody waits
		close(b.changed)
		b.changed = make(chan struct{})
	}
	b.mu.Unlock()
}

// Used is the bytes held now.
func (b *Inflight) Used() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
