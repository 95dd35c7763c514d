// Delivery engine of a Sink actor: the delivery type, its worker pool, the collect/deliver
// retry loop, the progress tracker, the flusher, lazySink and sinkMetrics. The actor
// (sink.go) builds a delivery in Started and tears it down in Stopping and Restarting; in
// between, only accept (tracking items and handing them over on in) and Receive's reopen
// request touch it from the actor's goroutine. The rest runs on goroutines the delivery
// owns: the workers (work, collect, deliver, giveUp) and the flusher (flusher, flushOnly,
// flushAndReport, reopen). The progress tracker (track, complete, abandon, completedUpTo) is
// shared by all of them under mu.

package actors

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/retry"
	"holdfast/sinks"
)

// chunk is what accept hands the workers at once. pooled says items is a whole slice from
// itemPool, to go back there once the workers have copied it.
type chunk struct {
	items  []item
	pooled bool
}

// item is one event on its way through the workers.
type item struct {
	ev      messages.Event
	tracked bool  // counts toward SinkDone: a Deliver with an offset
	charge  int64 // bytes charged to the stream's Inflight bound until done: a Deliver's line
}

// delivery is what a Sink's goroutines share: the workers, which write, and the flusher,
// which flushes, reopens and reports progress. Only teardown waits for them.
type delivery struct {
	log        zerolog.Logger
	clock      Clock
	root       *actor.RootContext
	sink       sinks.Sink
	name       string
	backoff    retry.Backoff
	maxRetries int  // retries before dead-lettering; negative = without limit
	alarm      int  // failures after which file and stdout log at Error: cfg.MaxRetries+1
	lines      bool // file or stdout: done only once a Flush covers the events
	deadLetter *actor.PID
	cursor     *actor.PID
	inflight   *Inflight // the stream's byte bound: done events give their bytes back
	batchMax   int       // events per Write
	chunk      int       // most events per hand-off: batchMax
	batchWait  time.Duration
	flushEvery time.Duration
	m          sinkMetrics
	health     *sinkHealth // nil without a status owner

	in          chan chunk
	room        int             // events that may wait in in: workers × batchMax
	waiting     atomic.Int64    // events waiting in in
	roomFreed   chan struct{}   // a worker took a chunk from in
	stopCtx     context.Context // cancelled at teardown: no retries, no more waiting
	stop        context.CancelFunc
	writeCtx    context.Context // cancelled sinkStopGrace later: writes under way give up
	cancelWrite context.CancelFunc
	workers     sync.WaitGroup
	reopen      chan struct{}
	tick        chan struct{}
	idle        chan struct{} // a worker found nothing more to write: flush without reporting
	quit        chan struct{}
	flusherDone chan struct{}

	flushFailures int    // flusher (then teardown) only
	reported      uint64 // flusher (then teardown) only

	mu        sync.Mutex
	pending   []uint64       // tracked offsets not yet done, in arrival order
	finished  map[uint64]int // done offsets still behind an unfinished one (a count: offsets may repeat)
	upTo      uint64         // every tracked offset up to here is done
	abandoned int
}

func (d *delivery) work() {
	defer d.workers.Done()
	var batch []item         // reused: deliver keeps nothing of it
	var evs []messages.Event // likewise
	var carry chunk
	for {
		first := carry
		if len(first.items) == 0 {
			var ok bool
			if first, ok = <-d.in; !ok {
				return
			}
			d.took(first)
		}
		batch, carry = d.collect(batch[:0], first)
		evs = d.deliver(batch, evs[:0])
		clear(batch) // drop the lines they point to; the backing arrays stay for reuse
		clear(evs)
		if d.lines && len(carry.items) == 0 && len(d.in) == 0 {
			// Nothing else waiting: flush now rather than at the next tick, so a quiet feed
			// is not delayed by flush_interval. Under load the channel is rarely empty and
			// writes keep batching; requests coalesce while a flush runs.
			select {
			case d.idle <- struct{}{}:
			default:
			}
		}
	}
}

// collect appends first and whatever else is waiting to batch, up to batchMax, waiting up
// to batchWait for more when that is configured. What does not fit comes back as carry, the
// start of the next batch.
func (d *delivery) collect(batch []item, first chunk) (_ []item, carry chunk) {
	take := func(c chunk) chunk { // appends what fits and returns the rest
		n := min(len(c.items), d.batchMax-len(batch))
		batch = append(batch, c.items[:n]...)
		if n < len(c.items) {
			return chunk{items: c.items[n:]} // no longer a whole pooled slice
		}
		if c.pooled {
			itemPool.put(c.items) // copied into batch
		}
		return chunk{}
	}
	// received takes a chunk read from in (ok false: in is closed). done: the batch is
	// complete, and rest is what did not fit.
	received := func(c chunk, ok bool) (rest chunk, done bool) {
		if !ok {
			return chunk{}, true
		}
		d.took(c)
		rest = take(c)
		return rest, len(rest.items) > 0
	}
	if rest := take(first); len(rest.items) > 0 {
		return batch, rest
	}
	var expired chan struct{}
	for len(batch) < d.batchMax {
		select {
		case c, ok := <-d.in:
			if rest, done := received(c, ok); done {
				return batch, rest
			}
			continue
		default:
		}
		if d.batchWait <= 0 || d.stopCtx.Err() != nil {
			return batch, chunk{}
		}
		if expired == nil {
			ch := make(chan struct{})
			t := d.clock.AfterFunc(d.batchWait, func() { close(ch) })
			defer t.Stop()
			expired = ch
		}
		select {
		case c, ok := <-d.in:
			if rest, done := received(c, ok); done {
				return batch, rest
			}
		case <-expired:
			return batch, chunk{}
		case <-d.stopCtx.Done():
			return batch, chunk{}
		}
	}
	return batch, chunk{}
}

// took gives back the room a chunk taken from in held.
func (d *delivery) took(c chunk) {
	d.waiting.Add(-int64(len(c.items)))
	select {
	case d.roomFreed <- struct{}{}:
	default: // accept has a wake-up pending already
	}
}

// deliver writes batch until it succeeds, is dead-lettered, or the sink stops. It builds
// the events in evs and returns it for reuse.
func (d *delivery) deliver(batch []item, evs []messages.Event) []messages.Event {
	for _, it := range batch {
		evs = append(evs, it.ev)
	}
	first := evs[0]
	for attempt := 1; ; attempt++ {
		start := d.clock.Now()
		err := d.call("write", func() error { return d.sink.Write(d.writeCtx, evs) })
		if err == nil {
			d.m.latency.Observe(d.clock.Now().Sub(start).Seconds())
			d.m.delivered.Add(float64(len(batch)))
			d.health.wrote(len(batch))
			d.complete(batch)
			return evs
		}
		if d.stopCtx.Err() != nil {
			d.abandon(batch) // at shutdown: neither retried nor dead-lettered
			return evs
		}
		giveUp := sinks.IsPermanent(err) || (d.maxRetries >= 0 && attempt > d.maxRetries)
		d.health.failed(err, !giveUp)
		if giveUp {
			d.giveUp(batch, err, attempt)
			return evs
		}
		delay := max(d.backoff.Delay(attempt), sinks.RetryAfter(err)) // capped where it was read
		d.m.retried.Inc()
		ev := d.log.Warn()
		if d.lines && attempt >= d.alarm {
			ev = d.log.Error() // file or stdout stuck: events pile up until an operator acts
		}
		ev.Err(err).Int("attempt", attempt).Int("max_retries", d.maxRetries).Dur("retry_in", delay).
			Uint64("offset", first.Offset).Int("events", len(batch)).Msg("delivery retry")
		if !d.sleep(delay) {
			d.abandon(batch)
			return evs
		}
	}
}

// call runs one sink method, turning a panic into an error: a panic that escaped a
// goroutine the sink owns would take the whole process down.
func (d *delivery) call(op string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error().Interface("panic", r).Str("op", op).Bytes("stack", debug.Stack()).Msg("sink panicked")
			err = fmt.Errorf("%s %s: panic: %v", op, d.name, r)
		}
	}()
	return f()
}

// sleep waits d on the clock; it returns false when the sink stops first.
func (d *delivery) sleep(delay time.Duration) bool {
	ch := make(chan struct{})
	t := d.clock.AfterFunc(delay, func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-d.stopCtx.Done():
		t.Stop()
		return false
	}
}

// giveUp dead-letters batch, or logs it at Error when there is nowhere to send it.
func (d *delivery) giveUp(batch []item, err error, attempts int) {
	d.m.deadLettered.Add(float64(len(batch)))
	d.health.gaveUp(len(batch))
	reason := err.Error()
	for _, it := range batch {
		if d.deadLetter != nil {
			ev := it.ev // its own copy of the line: complete releases the shared one below
			ev.Line, ev.Buf = append([]byte(nil), ev.Line...), nil
			d.root.Send(d.deadLetter, &messages.DeadLetter{Event: ev, From: d.name, Reason: reason, Attempts: attempts})
		}
	}
	first := batch[0].ev
	if d.deadLetter != nil {
		d.log.Warn().Err(err).Int("attempts", attempts).Uint64("offset", first.Offset).Str("type", first.Type).
			Int("events", len(batch)).Msg("dead-lettered")
	} else {
		d.log.Error().Err(err).Int("attempts", attempts).Uint64("offset", first.Offset).Str("type", first.Type).
			Int("events", len(batch)).Msg("undeliverable event dropped: no dead-letter sink")
	}
	d.complete(batch)
}

// track notes accepted events; progress cannot pass them until they are complete.
func (d *delivery) track(items []item) {
	d.mu.Lock()
	for _, it := range items {
		if it.tracked {
			d.pending = append(d.pending, it.ev.Offset)
		}
	}
	d.mu.Unlock()
}

func (d *delivery) complete(batch []item) {
	d.mu.Lock()
	head := 0 // pending[:head] are done
	for _, it := range batch {
		if !it.tracked {
			continue
		}
		if len(d.finished) == 0 && head < len(d.pending) && d.pending[head] == it.ev.Offset {
			d.upTo = it.ev.Offset // in order, the usual case: no bookkeeping per event
			head++
			continue
		}
		d.finished[it.ev.Offset]++
	}
	for len(d.finished) > 0 && head < len(d.pending) && d.finished[d.pending[head]] > 0 {
		if d.finished[d.pending[head]]--; d.finished[d.pending[head]] == 0 {
			delete(d.finished, d.pending[head])
		}
		d.upTo = d.pending[head]
		head++
	}
	// Move the rest to the front rather than reslice, so that track's appends reuse the array.
	d.pending = d.pending[:copy(d.pending, d.pending[head:])]
	d.mu.Unlock()
	d.m.inFlight.Sub(float64(len(batch)))
	d.release(batch)
}

// release gives the bytes of batch back to the stream's bound, and the events' lines back to
// the buffers they share (see Sink.own): nothing reads them after this.
func (d *delivery) release(batch []item) {
	var n int64
	for _, it := range batch {
		n += it.charge
		it.ev.Buf.Release()
	}
	d.inflight.release(n)
}

// abandon gives up on events without delivering them, at stop; they stay pending, so the
// cursor never passes them.
func (d *delivery) abandon(batch []item) {
	d.mu.Lock()
	d.abandoned += len(batch)
	d.mu.Unlock()
	d.health.dropped(len(batch))
	d.m.inFlight.Sub(float64(len(batch)))
	d.release(batch)
}

func (d *delivery) abandonedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.abandoned
}

func (d *delivery) completedUpTo() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.upTo
}

// flusher flushes and reports every flushEvery, and reopens on request. The tick is armed
// again only once it has fired: idle flushes between ticks never push it back, so progress
// reaches the cursor at least every flushEvery however steadily events arrive.
func (d *delivery) flusher() {
	defer close(d.flusherDone)
	tick := d.tick
	var t Timer
	arm := func() {
		t = d.clock.AfterFunc(d.flushEvery, func() {
			select {
			case tick <- struct{}{}:
			default:
			}
		})
	}
	arm()
	for {
		select {
		case <-d.tick:
			d.flushAndReport()
			arm()
		case <-d.idle:
			d.flushOnly()
		case <-d.reopen:
			if err := d.call("reopen", d.sink.Reopen); err != nil {
				d.log.Warn().Err(err).Msg("reopen")
			} else {
				d.log.Info().Msg("reopened")
			}
		case <-d.quit:
			t.Stop()
			return
		}
	}
}

// flushOnly flushes between ticks; progress is still reported once per tick, so the cursor
// actor's load does not grow with the event rate.
func (d *delivery) flushOnly() {
	err := d.call("flush", d.sink.Flush)
	d.health.flushResult(err)
	if err != nil {
		d.log.Debug().Err(err).Msg("idle flush") // the next tick retries it and reports
	}
}

// flushAndReport flushes what the workers wrote, then tells the cursor how far it got.
func (d *delivery) flushAndReport() {
	defer d.health.report(false)
	upTo := d.completedUpTo() // read first: the Flush below covers everything written by now
	err := d.call("flush", d.sink.Flush)
	d.health.flushResult(err)
	if err != nil {
		d.flushFailures++
		switch {
		case d.flushFailures == 1:
			d.log.Warn().Err(err).Msg("flush")
		case d.flushFailures == d.alarm:
			d.log.Error().Err(err).Int("failures", d.flushFailures).Msg("flush keeps failing")
		}
		return
	}
	if d.flushFailures > 0 {
		d.log.Info().Int("failures", d.flushFailures).Msg("flush recovered")
		d.flushFailures = 0
	}
	if upTo != d.reported && d.cursor != nil {
		d.root.Send(d.cursor, &messages.SinkDone{Sink: d.name, UpTo: upTo})
	}
	d.reported = upTo
}

// lazySink builds its sink on first use and keeps trying on every Write until it can.
type lazySink struct {
	build func() (sinks.Sink, error)

	mu   sync.Mutex
	sink sinks.Sink // nil until build succeeds
}

func (l *lazySink) get() sinks.Sink {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sink
}

func (l *lazySink) Write(ctx context.Context, events []messages.Event) error {
	l.mu.Lock()
	if l.sink == nil {
		sk, err := l.build()
		if err != nil {
			l.mu.Unlock()
			return err
		}
		l.sink = sk
	}
	sk := l.sink
	l.mu.Unlock()
	return sk.Write(ctx, events)
}

func (l *lazySink) Flush() error {
	if sk := l.get(); sk != nil {
		return sk.Flush()
	}
	return nil
}

func (l *lazySink) Reopen() error {
	if sk := l.get(); sk != nil {
		return sk.Reopen()
	}
	return nil
}

func (l *lazySink) Close() error {
	if sk := l.get(); sk != nil {
		return sk.Close()
	}
	return nil
}

// sinkMetrics are one sink's series; without a registry they count into the void.
type sinkMetrics struct {
	delivered, retried, deadLettered prometheus.Counter
	inFlight                         prometheus.Gauge
	latency                          prometheus.Observer
}

func newSinkMetrics(m *metrics.Metrics, stream, name string) sinkMetrics {
	m.SinkHealthy.WithLabelValues(stream, name).Set(1)
	return sinkMetrics{m.SinkDelivered.WithLabelValues(stream, name), m.SinkRetried.WithLabelValues(stream, name),
		m.SinkDeadLettered.WithLabelValues(stream, name), m.SinkInFlight.WithLabelValues(stream, name),
		m.SinkLatency.WithLabelValues(stream, name)}
}
