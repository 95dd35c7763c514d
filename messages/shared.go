package messages

import "sync/atomic"

// SharedBuf is a buffer of envelopes that the Lines of many events point into. Whoever hands
// an event on counts one reference for it (Hold); whoever is done with the event's Line gives
// that reference back (Release), and the last Release hands the buffer to free for reuse.
// A Line must not be read after its Release: the bytes may already hold other events.
type SharedBuf struct {
	B    []byte
	refs atomic.Int64
	free func(*SharedBuf) // called once the last reference is released
}

// NewSharedBuf wraps b, with one reference held by the caller.
func NewSharedBuf(b []byte, free func(*SharedBuf)) *SharedBuf {
	s := &SharedBuf{B: b, free: free}
	s.refs.Store(1)
	return s
}

// Reset takes a freed buffer back into use, with one reference held by the caller.
func (s *SharedBuf) Reset() {
	s.B = s.B[:0]
	s.refs.Store(1)
}

// Hold counts one more reference.
func (s *SharedBuf) Hold() { s.refs.Add(1) }

// Release gives one reference back; nil is a no-op (an event owning its Line). Releasing
// more often than holding is a bug that would let two events share bytes: it panics.
func (s *SharedBuf) Release() {
	if s == nil {
		return
	}
	switch n := s.refs.Add(-1); {
	case n == 0:
		if s.free != nil {
			s.free(s)
		}
	case n < 0:
		panic("messages: SharedBuf released more often than held")
	}
}

// Own makes e hold its Line outright, copying it out of a shared buffer and releasing that.
// For receivers that keep a Line past the point where they could release it.
func (e *Event) Own() {
	if e.Buf == nil {
		return
	}
	e.Line = append([]byte(nil), e.Line...)
	e.Buf.Release()
	e.Buf = nil
}
