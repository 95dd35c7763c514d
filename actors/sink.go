package actors

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/retry"
	"holdfast/sinks"
)

// sinkStopGrace is how long a stopping sink lets writes already under way finish before it
// cancels them.
const sinkStopGrace = 2 * time.Second

// lineBatch is the most events one Write takes for file, stdout and pipe sinks: two of the
// router's largest batches.
const lineBatch = 2 * maxWeight

// Sink is one (stream, sink) pair: it takes Deliver (and DeadLetter, as some sink's dead-letter
// target) from its bounded mailbox and hands the events to worker goroutines that write them
// with retries. The hand-off channel is small, so a slow sink blocks Receive, its mailbox
// fills, and the router's Send blocks: that is how a slow sink pushes back on the socket.
//
// Workers retry failed writes with the cfg.Retry backoff (timers from env.Clock), honouring
// Retry-After, up to cfg.MaxRetries for exec and webhook; file and stdout retry without limit
// (their data cannot go anywhere else) and log at Error once they pass MaxRetries. Permanent
// failures and exhausted retries go to the dead-letter sink, or are logged at Error and
// counted. Progress reaches peers.Cursor as SinkDone at most once per FlushInterval
// (Default: 100ms): for file and stdout after the Flush that covers the events, for the
// others once delivered or dead-lettered (handed to the dead-letter sink's mailbox). With
// Concurrency > 1 (exec per_event and webhook only), UpTo is the highest offset below which
// every event is done.
//
// Stopping and Restarting stop accepting, give what the workers hold one last attempt
// within sinkStopGrace, flush and close; what is still undelivered is counted and logged,
// and not reported done. On Stopping the cursor therefore stays behind it and a resume
// delivers it again. A restart (which follows only a bug in the sink) loses it: the next
// incarnation's SinkDone reports later offsets.
type Sink struct {
	log    zerolog.Logger
	env    Env
	cfg    config.SinkConfig
	stream string
	peers  Peers
	out    io.Writer
	abort  <-chan struct{} // closed once Stop or Restart is posted: a blocked hand-off gives up

	d *delivery // nil before Started and after teardown
}

// SinkProps builds the props of the sink actor for cfg on stream; out is where a stdout sink
// writes. The producer runs again on every restart. Spawn the props once: the mailbox watch
// that lets Stop through a blocked hand-off belongs to them.
func SinkProps(env Env, cfg config.SinkConfig, stream string, peers Peers, out io.Writer) *actor.Props {
	if cfg.Buffer <= 0 {
		cfg.Buffer = config.DefaultSinkBuffer
	}
	gate := &sinkGate{}
	return actor.PropsFromProducer(func() actor.Actor {
		return &Sink{log: env.Named(SinkPrefix+cfg.Name).With().Str("stream", stream).Logger(),
			env: env, cfg: cfg, stream: stream, peers: peers, out: out, abort: gate.next()}
	}, actor.WithMailbox(BudgetedMailbox(cfg.Buffer, peers.Inflight, gate)))
}

func (s *Sink) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *messages.Deliver:
		s.accept([]item{{ev: msg.Event, tracked: msg.Event.Offset > 0, charge: int64(len(msg.Event.Line))}})
	case *messages.DeliverBatch:
		items := make([]item, len(msg.Events))
		for i, ev := range msg.Events {
			items[i] = item{ev: ev, tracked: ev.Offset > 0, charge: int64(len(ev.Line))}
		}
		s.accept(items)
	case *messages.DeadLetter:
		ev := msg.Event
		ev.Line = deadLetterLine(msg)
		s.accept([]item{{ev: ev}})
	case *messages.Reopen:
		if s.d != nil && s.cfg.Kind == sinks.KindFile { // only files have something to reopen
			select {
			case s.d.reopen <- struct{}{}:
			default: // one is already pending
			}
		}
	case *actor.Stopping, *actor.Restarting:
		s.teardown()
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		s.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

// item is one event on its way through the workers.
type item struct {
	ev      messages.Event
	tracked bool  // counts toward SinkDone: a Deliver with an offset
	charge  int64 // bytes charged to the stream's Inflight bound until done: a Deliver's line
}

func (s *Sink) start(ctx actor.Context) {
	sk, err := sinks.New(s.cfg, s.out, s.log)
	sinks.Track(sk, s.env.Procs)
	if err != nil {
		// Validate catches bad config, so this is a TLS file gone missing or the like. Failing
		// the actor would only restart it at once, in a loop; retrying on every Write goes
		// through the backoff and dead letters like any other failure.
		s.log.Error().Err(err).Msg("sink unusable; retrying with each delivery")
		cfg, out, log := s.cfg, s.out, s.log
		procs := s.env.Procs
		sk = &lazySink{build: func() (sinks.Sink, error) {
			sk, err := sinks.New(cfg, out, log)
			sinks.Track(sk, procs)
			return sk, err
		}}
	}
	draw, rc := s.env.Rand, s.cfg.Retry
	if draw == nil {
		rc.Jitter = config.JitterNone
	}
	b, err := retry.FromConfig(rc, draw)
	if err != nil || b.Min <= 0 { // validated at load
		b = retry.Backoff{Min: config.DefaultSinkRetryInitialDelay, Max: config.DefaultSinkRetryMaxDelay, Jitter: b.Jitter}
	}
	d := &delivery{
		log: s.log, clock: s.env.Clock, root: ctx.ActorSystem().Root, sink: sk, name: s.cfg.Name,
		backoff: b, maxRetries: s.cfg.MaxRetries, alarm: max(s.cfg.MaxRetries, 0) + 1, cursor: s.peers.Cursor,
		flushEvery: s.cfg.FlushInterval.Duration, batchWait: s.cfg.BatchWait.Duration,
		m:        newSinkMetrics(s.env.Metrics, s.stream, s.cfg.Name),
		inflight: s.peers.Inflight,
		reopen:   make(chan struct{}, 1), tick: make(chan struct{}, 1), idle: make(chan struct{}, 1),
		quit: make(chan struct{}), flusherDone: make(chan struct{}), finished: map[uint64]int{},
	}
	if d.flushEvery <= 0 {
		d.flushEvery = config.DefaultFlushInterval
	}
	if s.cfg.DeadLetter != "" {
		if d.deadLetter = s.peers.Sinks[s.cfg.DeadLetter]; d.deadLetter == nil {
			s.log.Error().Str("dead_letter", s.cfg.DeadLetter).Msg("dead-letter sink not found")
		}
	}
	workers, batch := 1, lineBatch
	switch s.cfg.Kind {
	case sinks.KindFile, sinks.KindStdout:
		d.lines, d.maxRetries = true, -1
	case sinks.KindWebhook:
		workers, batch = max(s.cfg.Concurrency, 1), max(s.cfg.BatchMax, 1)
	case sinks.KindExec:
		if s.cfg.Mode != sinks.ModePipe {
			workers, batch = max(s.cfg.Concurrency, 1), 1
		}
	case sinks.KindNATS:
		batch = max(s.cfg.MaxPending, 1) // one worker: at most max_pending unacknowledged
	}
	d.batchMax = batch
	d.chunk, d.room = batch, workers*batch // see accept
	d.roomFreed = make(chan struct{}, 1)
	d.health = s.newHealth(ctx, d.lines)
	if rc, ok := sk.(sinks.Reconnector); ok {
		s.watchReconnects(rc, d.health)
	}
	d.in = make(chan []item, d.room) // never full: room is counted in events, below it
	d.stopCtx, d.stop = context.WithCancel(context.Background())
	d.writeCtx, d.cancelWrite = context.WithCancel(context.Background())
	d.workers.Add(workers)
	for range workers {
		go d.work()
	}
	go d.flusher()
	s.d = d
}

// accept hands items to the workers in chunks of at most batchMax events, blocking while
// room events are already waiting for them (a chunk larger than that waits for none): this
// wait is the backpressure.
func (s *Sink) accept(items []item) {
	d := s.d
	if d == nil {
		return // after teardown nothing is accepted
	}
	d.track(items)
	d.m.inFlight.Add(float64(len(items)))
	d.health.accepted(len(items))
	for len(items) > 0 {
		n := min(len(items), d.chunk)
		for q := d.waiting.Load(); q > 0 && q+int64(n) > int64(d.room); q = d.waiting.Load() {
			select {
			case <-d.roomFreed:
			case <-s.abort: // stopping: not done, so the cursor stays behind them
				d.abandon(items)
				return
			}
		}
		d.waiting.Add(int64(n))
		d.in <- items[:n:n] // Receive is the only sender, and the count leaves room
		items = items[n:]
	}
}

// watchReconnects counts the sink's connection's reconnects in metrics and status.
func (s *Sink) watchReconnects(rc sinks.Reconnector, h *sinkHealth) {
	m, stream, name := s.env.Metrics, s.stream, s.cfg.Name
	rc.OnReconnect(func() {
		m.SinkReconnects.WithLabelValues(stream, name).Inc()
		h.reconnected()
	})
}

// teardown stops accepting, gives the workers sinkStopGrace to finish what they hold (one
// attempt each, no more retries), then flushes, reports and closes the sink.
func (s *Sink) teardown() {
	d := s.d
	if d == nil {
		return
	}
	s.d = nil
	close(d.in) // Receive is the only sender, and it is here
	d.stop()
	grace := d.clock.AfterFunc(sinkStopGrace, d.cancelWrite)
	d.workers.Wait()
	grace.Stop()
	d.cancelWrite()
	close(d.quit)
	<-d.flusherDone
	d.flushAndReport()
	if err := d.call("close", d.sink.Close); err != nil {
		s.log.Error().Err(err).Msg("sink close")
	}
	if n := d.abandonedCount(); n > 0 {
		s.log.Warn().Int("events", n).Msg("events left undelivered at stop")
	}
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

	in          chan []item
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
	var batch, carry []item  // batch is reused: deliver keeps nothing of it
	var evs []messages.Event // likewise
	for {
		first := carry
		if len(first) == 0 {
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
		if d.lines && len(carry) == 0 && len(d.in) == 0 {
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
func (d *delivery) collect(batch, first []item) (_, carry []item) {
	take := func(chunk []item) []item { // appends what fits and returns the rest
		n := min(len(chunk), d.batchMax-len(batch))
		batch = append(batch, chunk[:n]...)
		return chunk[n:]
	}
	if rest := take(first); len(rest) > 0 {
		return batch, rest
	}
	var expired chan struct{}
	for len(batch) < d.batchMax {
		select {
		case chunk, ok := <-d.in:
			if !ok {
				return batch, nil
			}
			d.took(chunk)
			if rest := take(chunk); len(rest) > 0 {
				return batch, rest
			}
			continue
		default:
		}
		if d.batchWait <= 0 || d.stopCtx.Err() != nil {
			return batch, nil
		}
		if expired == nil {
			ch := make(chan struct{})
			t := d.clock.AfterFunc(d.batchWait, func() { close(ch) })
			defer t.Stop()
			expired = ch
		}
		select {
		case chunk, ok := <-d.in:
			if !ok {
				return batch, nil
			}
			d.took(chunk)
			if rest := take(chunk); len(rest) > 0 {
				return batch, rest
			}
		case <-expired:
			return batch, nil
		case <-d.stopCtx.Done():
			return batch, nil
		}
	}
	return batch, nil
}

// took gives back the room a chunk taken from in held.
func (d *delivery) took(chunk []item) {
	d.waiting.Add(-int64(len(chunk)))
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
			d.root.Send(d.deadLetter, &messages.DeadLetter{Event: it.ev, From: d.name, Reason: reason, Attempts: attempts})
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
	for _, it := range batch {
		if it.tracked {
			d.finished[it.ev.Offset]++
		}
	}
	for len(d.pending) > 0 && d.finished[d.pending[0]] > 0 {
		if d.finished[d.pending[0]]--; d.finished[d.pending[0]] == 0 {
			delete(d.finished, d.pending[0])
		}
		d.upTo, d.pending = d.pending[0], d.pending[1:]
	}
	d.mu.Unlock()
	d.m.inFlight.Sub(float64(len(batch)))
	d.release(batch)
}

// release gives the bytes of batch back to the stream's bound.
func (d *delivery) release(batch []item) {
	var n int64
	for _, it := range batch {
		n += it.charge
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

// deadLetterLine is what a dead-letter sink writes for msg.
func deadLetterLine(msg *messages.DeadLetter) []byte {
	ev := json.RawMessage(msg.Event.Line)
	if !json.Valid(ev) {
		ev, _ = json.Marshal(string(msg.Event.Line))
	}
	type info struct {
		From     string `json:"from"`
		Reason   string `json:"reason"`
		Attempts int    `json:"attempts"`
	}
	b, _ := json.Marshal(struct {
		DeadLetter info            `json:"dead_letter"`
		Event      json.RawMessage `json:"event"`
	}{info{msg.From, msg.Reason, msg.Attempts}, ev})
	return b
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

// sinkGate is a mailbox middleware that sees Stop and Restart the moment they are posted.
// A sink whose workers are stuck blocks in Receive, so those system messages would wait
// behind it; the gate closes the incarnation's abort channel so Receive gives up the
// hand-off and the mailbox gets to them.
type sinkGate struct {
	mu      sync.Mutex
	open    chan struct{} // the current incarnation's abort channel; nil once closed
	stopped bool
}

// next returns the abort channel of a new incarnation.
func (g *sinkGate) next() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := make(chan struct{})
	g.open = ch
	if g.stopped {
		close(ch)
		g.open = nil
	}
	return ch
}

func (g *sinkGate) MessagePosted(m any) {
	_, stop := m.(*actor.Stop)
	if _, restart := m.(*actor.Restart); !stop && !restart {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = g.stopped || stop
	if g.open != nil {
		close(g.open)
		g.open = nil
	}
}

func (*sinkGate) MailboxStarted()     {}
func (*sinkGate) MessageReceived(any) {}
func (*sinkGate) MailboxEmpty()       {}
