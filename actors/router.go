package actors

import (
	"math"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/wire"
)

// DefaultRouterBuffer is the router's mailbox size in frames. With each sink's own buffer it
// bounds what a stream holds in memory before the reader stops reading.
const DefaultRouterBuffer = 256

// statsEvery is how often the router reports counts and signs of life.
const statsEvery = time.Second

// RouterConfig is what the Router needs from the stream's config.
type RouterConfig struct {
	Stream        string
	Routes        map[string][]string // type → sink names; "*" for the rest. Read-only.
	DeadLetter    string              // sink for frames that cannot be routed; "" = count and log only
	CursorField   string              // where the cursor is (a JSON pointer); "" when the stream keeps none
	InitialCursor string              // the last checkpoint, so duplicates replayed after a restart are dropped
	OnReset       string              // "accept" or "drop": what a numeric cursor that goes back does. Default: accept.
	ResetWindow   int64               // how far a numeric cursor may go back unexplained. Default: config.DefaultCursorResetWindow.
	Buffer        int                 // mailbox size. Default: DefaultRouterBuffer.
}

// RouterConfigFrom extracts the router's part of a stream's config.
func RouterConfigFrom(sc config.StreamConfig, initialCursor string) RouterConfig {
	routes := make(map[string][]string, len(sc.Routes))
	for _, r := range sc.Routes {
		routes[r.Type] = r.Sinks
	}
	return RouterConfig{Stream: sc.Name, Routes: routes, DeadLetter: sc.DeadLetter,
		CursorField: sc.CursorPointer(), InitialCursor: initialCursor,
		OnReset: sc.Cursor.OnReset, ResetWindow: sc.Cursor.ResetWindow}
}

// Router turns frames into envelopes and hands each to the sinks its type routes to. It owns
// duplicate and gap detection for a numeric cursor. Its mailbox is bounded: while a sink is
// full the router blocks, its own mailbox fills, and the reader stops reading.
type Router struct {
	log   zerolog.Logger
	env   Env
	cfg   RouterConfig
	peers Peers

	offset     uint64 // offset of the last routed event
	lastNum    int64  // last numeric cursor; valid when haveNum
	haveNum    bool
	num        numericCursor // what a numeric cursor going back means
	cursorTold bool          // a Routed with a cursor went to the cursor actor
	stats      messages.RouterStats
	reportDue  Timer                  // armed by the first frame after a report; nil when idle
	gen        uint64                 // generation of the last frame, for Activity
	lastAt     time.Time              // arrival time of the last frame
	types      map[string]*typeRoute  // per type seen, at most maxCachedTypes
	last       *typeRoute             // the entry of the last event's type; nil before the first
	routed     []messages.EventRouted // not yet told to the Cursor actor
	stampAt    time.Time              // the frame time stamp holds, formatted
	stamp      []byte
	outs       []sinkOut           // per sink, the events of the batch being routed
	buf        *messages.SharedBuf // envelopes are built here, bufferChunk at a time; lines handed out are never written again
	rejectLog  time.Time           // last time a rejected frame was logged
	quiet      uint64              // rejected frames not logged since rejectLog
}

// RouterProps builds the props; the producer runs again on every restart.
func RouterProps(env Env, cfg RouterConfig, peers Peers) *actor.Props {
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultRouterBuffer
	}
	if cfg.ResetWindow <= 0 {
		cfg.ResetWindow = config.DefaultCursorResetWindow
	}
	if cfg.OnReset == "" {
		cfg.OnReset = config.DefaultCursorOnReset
	}
	return actor.PropsFromProducer(func() actor.Actor {
		r := &Router{log: env.Named(NameRouter).With().Str("stream", cfg.Stream).Logger(), env: env, cfg: cfg, peers: peers}
		r.stats.Stream = cfg.Stream
		if n, err := strconv.ParseInt(cfg.InitialCursor, 10, 64); err == nil {
			r.lastNum, r.haveNum = n, true
		}
		r.stats.LastCursor = cfg.InitialCursor
		return r
	}, actor.WithMailbox(BudgetedMailbox(cfg.Buffer, peers.Inflight)), actor.WithDispatcher(hotPath))
}

func (r *Router) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *messages.FramesReceived:
		for i := range msg.Frames {
			r.route(ctx, &msg.Frames[i])
		}
		framePool.put(msg.Frames) // route copied what it keeps
		arenaPool.put(msg.Buf)
		r.handOn(ctx)
		r.sendRouted(ctx) // the cursor hears of the batch at once
	case *messages.FrameReceived:
		r.route(ctx, msg)
		r.handOn(ctx)
		r.sendRouted(ctx)
	case *messages.Subscribed:
		r.subscribed(msg)
	case *routerReport:
		r.reportDue = nil
		r.report(ctx)
	case *actor.Stopping, *actor.Restarting:
		r.buf.Release() // the router's own reference
		r.buf = nil
		stop(&r.reportDue)
		r.report(ctx)
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		r.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

func (r *Router) route(ctx actor.Context, f *messages.FrameReceived) {
	if f.Gen != r.gen {
		r.logDuplicates() // the connection they came on is gone
	}
	r.gen, r.lastAt = f.Gen, f.At
	if r.reportDue == nil {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		r.reportDue = r.env.Clock.AfterFunc(statsEvery, func() { root.Send(self, &routerReport{}) })
	}
	if f.Invalid != "" {
		r.reject(ctx, f)
		return
	}
	if f.Cursor != "" && r.cfg.CursorField != "" && r.duplicate(f) {
		if f.Ack != nil && r.peers.Cursor != nil { // taken before: acknowledge once what precedes it is done
			r.routed = append(r.routed, messages.EventRouted{Offset: r.offset, Ack: f.Ack, Gen: f.Gen})
			r.sendRouted(ctx)
		}
		return
	}
	t := r.typeRoute(f.Type)
	sinks := t.sinks
	r.offset++
	r.stats.EventsIn++
	r.stats.LastEventAt = f.At
	if f.Cursor != "" {
		r.stats.LastCursor = f.Cursor
	}
	t.events.Inc()
	if len(sinks) > 0 {
		if !f.At.Equal(r.stampAt) || r.stamp == nil { // frames read together share their time
			r.stampAt, r.stamp = f.At, wire.AppendTime(r.stamp[:0], f.At)
		}
		ev := messages.Event{Stream: r.cfg.Stream, Type: f.Type, Offset: r.offset, Cursor: f.Cursor}
		r.envelope(&ev, f, t)
		for _, name := range sinks {
			r.deliver(name, ev)
		}
	}
	if r.peers.Cursor != nil {
		r.routed = append(r.routed, messages.EventRouted{Offset: r.offset, Cursor: f.Cursor, Sinks: sinks, Ack: f.Ack, Gen: f.Gen})
		// An ack waits on the cursor actor: no batching delay. Nor for the first cursor: until
		// the cursor actor has one, a reconnect subscribes without any and loses what the
		// upstream sent in the outage; a cursor that merely trails costs only a longer replay.
		if len(r.routed) >= routedBatch || f.Ack != nil || (f.Cursor != "" && !r.cursorTold) {
			r.cursorTold = r.cursorTold || f.Cursor != ""
			r.sendRouted(ctx)
		}
	}
}

// envelope builds ev's Line for f in the shared buffer being filled, or in a buffer of its
// own when it is larger than a shared one could hold.
func (r *Router) envelope(ev *messages.Event, f *messages.FrameReceived, t *typeRoute) {
	head := t.head(r.cfg.Stream, f.Via)
	need := len(head) + len(r.stamp) + len(f.Data) + wire.EnvelopeRestMax // never less than it takes
	if need > bufferChunk {
		ev.Line = wire.AppendEnvelopeRest(append(make([]byte, 0, need), head...), r.stamp, f.Data)
		return
	}
	if r.buf == nil || cap(r.buf.B)-len(r.buf.B) < need {
		r.buf.Release() // the router's own reference: the sinks hold theirs
		r.buf = newLines()
	}
	b := r.buf.B
	out := wire.AppendEnvelopeRest(append(b, head...), r.stamp, f.Data)
	r.buf.B = out
	ev.Line, ev.Buf = out[len(b):len(out):len(out)], r.buf // capped: nothing appends into its neighbours
}

// maxCachedTypes bounds the router's per-type cache; an upstream inventing types beyond it
// is routed and counted through the slower, capped lookups.
const maxCachedTypes = metrics.MaxTypesPerStream + 1

// typeRoute is what the router looks up for every event by its type.
type typeRoute struct {
	typ     string
	sinks   []string           // from the routes, "*" for a type not named there
	events  prometheus.Counter // events_in for the type
	via     string             // the path headBuf was built for
	headBuf []byte             // the envelope's head for typ and via
}

// head returns the envelope head of t's events that arrived via.
func (t *typeRoute) head(stream, via string) []byte {
	if t.headBuf == nil || t.via != via {
		t.via, t.headBuf = via, wire.AppendEnvelopeHead(nil, stream, t.typ, via)
	}
	return t.headBuf
}

// typeRoute returns the route and counter of typ. Types come interned from the reader and a
// feed mostly repeats one, so the last type is compared before the map is hashed.
func (r *Router) typeRoute(typ string) *typeRoute {
	if r.last != nil && r.last.typ == typ {
		return r.last
	}
	t, ok := r.types[typ]
	if !ok {
		sinks, named := r.cfg.Routes[typ]
		if !named {
			sinks = r.cfg.Routes["*"]
		}
		t = &typeRoute{typ: typ, sinks: sinks, events: r.env.Metrics.EventCounter(r.cfg.Stream, typ)}
		if r.types == nil {
			r.types = map[string]*typeRoute{}
		}
		if len(r.types) >= maxCachedTypes || len(typ) > metrics.MaxTypeLabel {
			return t // a longer type would pin its whole string here
		}
		r.types[typ] = t
	}
	r.last = t
	return t
}

// numericCursor is what the Router knows to tell a replay from a reset.
type numericCursor struct {
	subGen    uint64 // connection whose subscriptions carried since
	since     int64  // the numeric cursor those subscriptions carried; valid when haveSince
	haveSince bool
	dups      uint64 // duplicates dropped on gen and not logged yet
	dupGen    uint64
	dropping  bool      // on_reset = "drop": inside a reset that is being dropped
	dropLog   time.Time // last "cursor reset" log in drop mode
	quiet     uint64    // events dropped since dropLog without a log line
	dropped   uint64    // events dropped in the current reset
}

// subscribed notes the cursor a connection's subscriptions carried: the upstream was asked
// for what comes after it, so nothing at or below it can be a replay.
func (r *Router) subscribed(msg *messages.Subscribed) {
	n, err := strconv.ParseInt(msg.Cursor, 10, 64)
	r.num.subGen, r.num.since, r.num.haveSince = msg.Gen, n, err == nil
}

// Verdicts on a numeric cursor.
const (
	cursorNext      = iota // above the last one: deliver
	cursorDuplicate        // at or below it, as a replay repeats: drop
	cursorReset            // below it in a way no replay explains
)

// judgeCursor decides what cursor n means after last (when haveLast). An event at or below
// the last one is a reset when the subscriptions of its connection asked for what comes
// after a cursor at or above it, or when it lies window or more below the last one; any other
// is a duplicate. Pure: table-tested.
func judgeCursor(n, last int64, haveLast bool, since int64, haveSince bool, window int64) int {
	switch {
	case !haveLast || n > last:
		return cursorNext
	case haveSince && n <= since:
		return cursorReset
	case uint64(last)-uint64(n) >= uint64(window): // exact for last >= n, whatever the signs
		return cursorReset
	}
	return cursorDuplicate
}

// gapAfter is how many cursor values lie strictly between last and n (n > last), exact for
// any two int64s.
func gapAfter(last, n int64) uint64 { return uint64(n) - uint64(last) - 1 }

// addSat adds without wrapping: a bogus cursor must not turn a counter back to small values.
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// duplicate reports whether an event must be dropped for its numeric cursor; it notes gaps
// and resets, and moves the cursor.
func (r *Router) duplicate(f *messages.FrameReceived) bool {
	n, err := strconv.ParseInt(f.Cursor, 10, 64)
	if err != nil {
		return false // not numeric: order unknown, so nothing is dropped
	}
	haveSince := r.num.haveSince && r.num.subGen == f.Gen && f.Via == messages.ViaWebSocket
	switch judgeCursor(n, r.lastNum, r.haveNum, r.num.since, haveSince, r.cfg.ResetWindow) {
	case cursorDuplicate:
		r.countDuplicate(f.Gen)
		return true
	case cursorReset:
		if r.cfg.OnReset == "drop" {
			r.dropReset(f, n)
			return true
		}
		r.stats.CursorResets++
		r.env.Metrics.CursorResets.WithLabelValues(r.cfg.Stream).Inc()
		r.log.Warn().Int64("cursor", r.lastNum).Int64("next", n).Uint64("gen", f.Gen).
			Msg("cursor reset: the upstream's numbering went back; following it")
		r.num.haveSince = false // its since belongs to the old numbering
	default:
		if r.haveNum && gapAfter(r.lastNum, n) > 0 {
			missing := gapAfter(r.lastNum, n)
			r.stats.Gaps++
			r.stats.GapEvents = addSat(r.stats.GapEvents, missing)
			r.env.Metrics.Gaps.WithLabelValues(r.cfg.Stream).Inc()
			r.env.Metrics.GapEvents.WithLabelValues(r.cfg.Stream).Add(float64(missing))
			r.log.Warn().Int64("after", r.lastNum).Int64("next", n).Uint64("missing", missing).Msg("gap in cursor")
		}
		if r.num.dropping {
			r.num.dropping = false
			r.log.Warn().Int64("cursor", n).Uint64("dropped", r.num.dropped).Msg("cursor reset over: delivering again")
			r.num.quiet, r.num.dropped = 0, 0
		}
	}
	r.lastNum, r.haveNum = n, true
	return false
}

// countDuplicate counts a replayed event; the log line comes once per connection and second.
func (r *Router) countDuplicate(gen uint64) {
	r.stats.Duplicates++
	r.env.Metrics.Duplicates.WithLabelValues(r.cfg.Stream).Inc()
	r.num.dups++
	r.num.dupGen = gen
}

// logDuplicates logs the duplicates dropped since the last such line, if any.
func (r *Router) logDuplicates() {
	if r.num.dups == 0 {
		return
	}
	r.log.Info().Uint64("gen", r.num.dupGen).Uint64("duplicates", r.num.dups).Int64("cursor", r.lastNum).
		Msg("duplicates dropped")
	r.num.dups = 0
}

// dropReset drops an event of a reset under on_reset = "drop": counted as a duplicate,
// logged when the reset starts and then at most once a second.
func (r *Router) dropReset(f *messages.FrameReceived, n int64) {
	r.stats.Duplicates++
	r.env.Metrics.Duplicates.WithLabelValues(r.cfg.Stream).Inc()
	r.num.dropped++
	if !r.num.dropping {
		r.num.dropping = true
		r.stats.CursorResets++
		r.env.Metrics.CursorResets.WithLabelValues(r.cfg.Stream).Inc()
	}
	if f.At.Sub(r.num.dropLog) >= time.Second {
		r.log.Warn().Int64("cursor", r.lastNum).Int64("next", n).Uint64("suppressed", r.num.quiet).
			Msg("cursor reset: dropping events at or below the cursor (on_reset = drop)")
		r.num.dropLog, r.num.quiet = f.At, 0
	} else {
		r.num.quiet++
	}
}

// reject counts a frame that cannot be routed, logs at most once a second, and dead-letters it.
func (r *Router) reject(ctx actor.Context, f *messages.FrameReceived) {
	r.stats.ParseErrors++
	r.stats.LastParseErr = f.Invalid
	r.env.Metrics.ParseError(r.cfg.Stream, f.Invalid)
	if f.At.Sub(r.rejectLog) >= time.Second {
		r.log.Warn().Str("reason", f.Invalid).Int("bytes", len(f.Data)).Uint64("suppressed", r.quiet).Msg("frame rejected")
		r.rejectLog, r.quiet = f.At, 0
	} else {
		r.quiet++
	}
	if r.cfg.DeadLetter != "" {
		line := wire.AppendRejected(nil, r.cfg.Stream, f.Invalid, f.Via, f.At, f.Data)
		r.deliver(r.cfg.DeadLetter, messages.Event{Stream: r.cfg.Stream, Type: "_rejected", Line: line})
	}
}

// sinkOut is what one sink gets from the batch being routed.
type sinkOut struct {
	name   string
	pid    *actor.PID
	events []messages.Event
}

// deliver adds ev to what sink name gets from this batch; handOn sends it.
func (r *Router) deliver(name string, ev messages.Event) {
	for i := range r.outs {
		if r.outs[i].name == name {
			if ev.Buf != nil {
				ev.Buf.Hold() // the sink's reference, released once it is done with the line
			}
			r.outs[i].events = append(r.outs[i].events, ev)
			return
		}
	}
	pid := r.peers.Sinks[name]
	if pid == nil {
		return // validated at load: every routed sink exists
	}
	if ev.Buf != nil {
		ev.Buf.Hold() // the sink's reference, released once it is done with the line
	}
	r.outs = append(r.outs, sinkOut{name: name, pid: pid, events: append(eventPool.get(), ev)})
}

// handOn sends every sink its part of the batch in one message. A sink whose mailbox is
// full blocks the router here: that is the backpressure.
func (r *Router) handOn(ctx actor.Context) {
	for i := range r.outs {
		o := &r.outs[i]
		if len(o.events) == 0 {
			continue
		}
		ctx.Send(o.pid, &messages.DeliverBatch{Events: o.events})
		o.events = eventPool.get() // the sent slice belongs to the message
	}
}

// routedBatch is how many routed events one Routed message carries at most.
const routedBatch = 64

func (r *Router) sendRouted(ctx actor.Context) {
	if len(r.routed) == 0 {
		return
	}
	ctx.Send(r.peers.Cursor, &messages.Routed{Events: r.routed})
	r.routed = routedPool.get() // the sent slice belongs to the message
}

// report sends what the Cursor actor has not heard yet, the counts to the status owner and a
// sign of life to Heartbeat. It runs at most once per statsEvery while frames flow, so none
// of it costs anything per frame.
func (r *Router) report(ctx actor.Context) {
	r.sendRouted(ctx)
	r.logDuplicates()
	if r.env.Status != nil {
		st := r.stats
		ctx.Send(r.env.Status, &st)
	}
	if m := r.env.Metrics; !r.stats.LastEventAt.IsZero() {
		m.LastEvent.WithLabelValues(r.cfg.Stream).Set(float64(r.stats.LastEventAt.UnixNano()) / 1e9)
	}
	if r.peers.Heartbeat != nil && r.gen != 0 {
		ctx.Send(r.peers.Heartbeat, &messages.Activity{Gen: r.gen, At: r.lastAt})
	}
}

// routerReport is the router's own timer tick.
type routerReport struct{}
