package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"holdfast/messages"
)

// sinkReportEvery is the most often a sink reports counters that moved; a change between
// failing and writing is reported at once.
const sinkReportEvery = time.Second

// sinkHealth is what a sink tells the status owner about itself: whether it is writing,
// its last error, and its counters. The workers and the flusher update it; it is safe for
// concurrent use. A nil *sinkHealth (no status owner) does nothing.
type sinkHealth struct {
	root  *actor.RootContext
	to    *actor.PID
	clock Clock
	lines bool // file or stdout: only a flush proves the sink writes, and clears a failure

	mu        sync.Mutex
	st        messages.SinkStats
	inFlight  int // accepted, not yet written
	unflushed int // written to a line sink's buffer, not yet flushed
	changed   bool
	sentAt    time.Time
}

func newSinkHealth(env Env, root *actor.RootContext, base messages.SinkStats, lines bool) *sinkHealth {
	if env.Status == nil {
		return nil
	}
	return &sinkHealth{root: root, to: env.Status, clock: env.Clock, lines: lines, st: base, changed: true}
}

// accepted counts events handed to the workers.
func (h *sinkHealth) accepted(n int) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.inFlight += n
	h.changed = true
	h.mu.Unlock()
}

// dropped counts events that leave the workers unfinished (abandoned at stop).
func (h *sinkHealth) dropped(n int) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.inFlight -= n
	h.changed = true
	h.mu.Unlock()
}

// wrote records a successful write of n events. For a line sink they are done only once
// flushed, and only the flush clears a failure.
func (h *sinkHealth) wrote(n int) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.inFlight -= n
	if h.lines {
		h.unflushed += n
	} else {
		h.st.Delivered += uint64(n)
	}
	recovered := !h.lines && h.clear()
	h.mu.Unlock()
	if recovered {
		h.report(true)
	}
}

// reconnected counts a reconnect of the sink's own connection and reports it at once.
func (h *sinkHealth) reconnected() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.st.Reconnects++
	h.mu.Unlock()
	h.report(true)
}

// flushed records a successful flush of a line sink.
func (h *sinkHealth) flushed() {
	if h == nil || !h.lines {
		return
	}
	h.mu.Lock()
	h.st.Delivered += uint64(h.unflushed)
	h.changed = h.changed || h.unflushed > 0
	h.unflushed = 0
	recovered := h.clear()
	h.mu.Unlock()
	if recovered {
		h.report(true)
	}
}

// clear ends a failure; it reports whether there was one. h.mu is held.
func (h *sinkHealth) clear() bool {
	if h.st.FailingSince.IsZero() {
		return false
	}
	h.st.FailingSince, h.changed = time.Time{}, true
	return true
}

// failed records a failed write or flush; retried says another attempt follows.
func (h *sinkHealth) failed(err error, retried bool) {
	if h == nil {
		return
	}
	now := h.clock.Now()
	h.mu.Lock()
	started := h.st.FailingSince.IsZero()
	if started {
		h.st.FailingSince = now
	}
	h.st.LastError, h.st.LastErrorAt = messages.Printable(err.Error()), now // a receiver's answer is not ours
	if retried {
		h.st.Retries++
	}
	h.changed = true
	h.mu.Unlock()
	if started {
		h.report(true)
	}
}

// gaveUp records n events dead-lettered (or dropped without a dead-letter sink).
func (h *sinkHealth) gaveUp(n int) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.st.DeadLettered += uint64(n)
	h.inFlight -= n
	h.changed = true
	h.mu.Unlock()
}

// report sends the stats when forced, or when they changed and the last report is at least
// sinkReportEvery old.
func (h *sinkHealth) report(force bool) {
	if h == nil {
		return
	}
	now := h.clock.Now()
	h.mu.Lock()
	if !force && (!h.changed || now.Sub(h.sentAt) < sinkReportEvery) {
		h.mu.Unlock()
		return
	}
	defer h.mu.Unlock()
	st := h.st
	st.Backlog = max(h.inFlight, 0) + h.unflushed
	h.changed, h.sentAt = false, now
	h.root.Send(h.to, &st) // under the lock, so reports arrive in order; the mailbox is unbounded
}

// flushResult records the outcome of a flush.
func (h *sinkHealth) flushResult(err error) {
	if err != nil {
		h.failed(err, false)
	} else {
		h.flushed()
	}
}

// newHealth builds the sink's health report and sends the first one, so status lists the
// sink before its first event.
func (s *Sink) newHealth(ctx actor.Context, lines bool) *sinkHealth {
	h := newSinkHealth(s.env, ctx.ActorSystem().Root, messages.SinkStats{Stream: s.stream, Sink: s.cfg.Name,
		Kind: s.cfg.Kind, UnhealthyAfter: s.cfg.UnhealthyAfter.Duration}, lines)
	h.report(true)
	return h
}
