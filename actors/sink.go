// The Sink actor: props, its bounded mailbox and the gate that lets Stop through, Receive,
// and the glue around the delivery engine (delivery.go). Receive, start, accept and teardown
// run on the actor's goroutine only; start spawns the delivery's worker and flusher
// goroutines and teardown is the only place that waits for them.

package actors

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
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
	}, actor.WithMailbox(BudgetedMailbox(cfg.Buffer, peers.Inflight, gate)), actor.WithDispatcher(hotPath))
}

func (s *Sink) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *messages.Deliver:
		ev := s.own(msg.Event)
		s.accept([]item{{ev: ev, tracked: ev.Offset > 0, charge: int64(len(ev.Line))}})
	case *messages.DeliverBatch:
		items := itemPool.get()
		for _, ev := range msg.Events {
			ev = s.own(ev)
			items = append(items, item{ev: ev, tracked: ev.Offset > 0, charge: int64(len(ev.Line))})
		}
		eventPool.put(msg.Events) // copied into items
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
	d.in = make(chan chunk, d.room) // never full: room is counted in events, below it
	d.stopCtx, d.stop = context.WithCancel(context.Background())
	d.writeCtx, d.cancelWrite = context.WithCancel(context.Background())
	d.workers.Add(workers)
	for range workers {
		go d.work()
	}
	go d.flusher()
	s.d = d
}

// own returns ev as this sink keeps it. File and stdout sinks copy a line into their own
// buffer when they write it, so they keep the router's shared buffer and release it once
// the event is done (delivery.release). The others may hold a line past that point (a
// request body still being sent, a JetStream publish the client library may send again), so
// they take their own copy at once.
func (s *Sink) own(ev messages.Event) messages.Event {
	if s.d == nil || !s.d.lines {
		ev.Own()
	}
	return ev
}

// accept hands items to the workers in chunks of at most batchMax events, blocking while
// room events are already waiting for them (a chunk larger than that waits for none): this
// wait is the backpressure.
func (s *Sink) accept(items []item) {
	d := s.d
	if d == nil {
		return // after teardown nothing is accepted
	}
	whole := len(items) <= d.chunk // handed over as one chunk: the workers recycle it
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
		if whole {
			d.in <- chunk{items: items, pooled: true} // Receive is the only sender, and the count leaves room
		} else {
			d.in <- chunk{items: items[:n:n]}
		}
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
