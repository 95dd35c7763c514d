package actors

import "holdfast/messages"

// Batch slices travel inside messages: frames and the buffer holding their data from the
// reader to the router, events from the router to each sink, routed events from the router
// to the cursor. Each slice has exactly one receiver, which copies what it keeps and hands
// the slice back here when it is done with the message; the sender takes its next slice
// from here. Allocating them anew for every batch was most of the bytes the hot path
// allocated, and the collector's work that follows them.
var (
	framePool  = newBatchPool[messages.FrameReceived](readBatchMax)
	arenaPool  = newBatchPool[byte](readBatchBytes)
	eventPool  = newBatchPool[messages.Event](readBatchMax)
	routedPool = newBatchPool[messages.EventRouted](routedBatch)
	itemPool   = newBatchPool[item](readBatchMax)
)

// poolKeep is how many free slices a pool holds; more are left to the collector.
const poolKeep = 64

// batchPool is a free list of slices of one capacity. A channel rather than a sync.Pool:
// putting a slice back into a sync.Pool allocates its header.
type batchPool[T any] struct {
	free chan []T
	size int
}

func newBatchPool[T any](size int) *batchPool[T] {
	return &batchPool[T]{free: make(chan []T, poolKeep), size: size}
}

// get returns an empty slice of the pool's capacity.
func (p *batchPool[T]) get() []T {
	select {
	case b := <-p.free:
		return b
	default:
		return make([]T, 0, p.size)
	}
}

// put clears b, so that it pins nothing it pointed to, and keeps it. A slice of another
// capacity (one that grew, or a test's) is left to the collector. The caller must not use
// b, nor anything sliced from it, afterwards.
func (p *batchPool[T]) put(b []T) {
	if cap(b) != p.size {
		return
	}
	clear(b)
	select {
	case p.free <- b[:0]:
	default:
	}
}

// linesPool holds the buffers the router builds envelopes in; the last sink done with the
// lines in one gives it back (see messages.SharedBuf).
var linesPool = make(chan *messages.SharedBuf, poolKeep)

// newLines returns an empty envelope buffer of bufferChunk bytes, with the caller's reference.
func newLines() *messages.SharedBuf {
	select {
	case b := <-linesPool:
		b.Reset()
		return b
	default:
		return messages.NewSharedBuf(make([]byte, 0, bufferChunk), freeLines)
	}
}

// freeLines zeroes the buffer before keeping it, as the other pools clear theirs: a line read
// after its release (a bug) then reads as zeros rather than another event, and the tests
// that check every line see it.
func freeLines(b *messages.SharedBuf) {
	clear(b.B)
	select {
	case linesPool <- b:
	default:
	}
}
