package actors

import (
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
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
	Buffer        int                 // mailbox size. Default: DefaultRouterBuffer.
}

// RouterConfigFrom extracts the router's part of a stream's config.
func RouterConfigFrom(sc config.StreamConfig, initialCursor string) RouterConfig {
	routes := make(map[string][]string, len(sc.Routes))
	for _, r := range sc.Routes {
		routes[r.Type] = r.Sinks
	}
	return RouterConfig{Stream: sc.Name, Routes: routes, DeadLetter: sc.DeadLetter,
		CursorField: sc.CursorPointer(), InitialCursor: initialCursor}
}

// Router turns frames into envelopes and hands each to the sinks its type routes to. It owns
// duplicate and gap detection for a numeric cursor. Its mailbox is bounded: while a sink is
// full the router blocks, its own mailbox fills, and the reader stops reading.
type Router struct {
	log   zerolog.Logger
	env   Env
	cfg   RouterConfig
	peers Peers

	offset    uint64 // offset of the last routed event
	lastNum   int64  // last numeric cursor; valid when haveNum
	haveNum   bool
	stats     messages.RouterStats
	reportDue Timer                         // armed by the first frame after a report; nil when idle
	gen       uint64                        // generation of the last frame, for Activity
	lastAt    time.Time                     // arrival time of the last frame
	counters  map[string]prometheus.Counter // events_in per type, at most maxCachedTypes
	routed    []messages.EventRouted        // not yet told to the Cursor actor
	rejectLog time.Time                     // last time a rejected frame was logged
	quiet     uint64                        // rejected frames not logged since rejectLog
}

// RouterProps builds the props; the producer runs again on every restart.
func RouterProps(env Env, cfg RouterConfig, peers Peers) *actor.Props {
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultRouterBuffer
	}
	return actor.PropsFromProducer(func() actor.Actor {
		r := &Router{log: env.Named(NameRouter).With().Str("stream", cfg.Stream).Logger(), env: env, cfg: cfg, peers: peers}
		r.stats.Stream = cfg.Stream
		if n, err := strconv.ParseInt(cfg.InitialCursor, 10, 64); err == nil {
			r.lastNum, r.haveNum = n, true
		}
		r.stats.LastCursor = cfg.InitialCursor
		return r
	}, actor.WithMailbox(BoundedMailbox(cfg.Buffer)))
}

func (r *Router) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *messages.FrameReceived:
		r.route(ctx, msg)
	case *routerReport:
		r.reportDue = nil
		r.report(ctx)
	case *actor.Stopping, *actor.Restarting:
		stop(&r.reportDue)
		r.report(ctx)
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		r.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

func (r *Router) route(ctx actor.Context, f *messages.FrameReceived) {
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
	sinks, ok := r.cfg.Routes[f.Type]
	if !ok {
		sinks = r.cfg.Routes["*"]
	}
	r.offset++
	r.stats.EventsIn++
	r.stats.LastEventAt = f.At
	if f.Cursor != "" {
		r.stats.LastCursor = f.Cursor
	}
	r.countEvent(f.Type)
	if len(sinks) > 0 {
		line := messages.AppendEnvelope(make([]byte, 0, len(f.Data)+160), r.cfg.Stream, f.Type, f.Via, f.At, f.Data)
		ev := messages.Event{Stream: r.cfg.Stream, Type: f.Type, Offset: r.offset, Cursor: f.Cursor, Line: line}
		for _, name := range sinks {
			ctx.Send(r.peers.Sinks[name], &messages.Deliver{Event: ev})
		}
	}
	if r.peers.Cursor != nil {
		r.routed = append(r.routed, messages.EventRouted{Offset: r.offset, Cursor: f.Cursor, Sinks: sinks, Ack: f.Ack, Gen: f.Gen})
		if len(r.routed) >= routedBatch || f.Ack != nil { // an ack waits on the cursor actor: no batching delay
			r.sendRouted(ctx)
			r.sendRouted(ctx)
		}
	}
}

// maxCachedTypes bounds the router's counter cache; an upstream inventing types beyond it
// is counted through the slower, capped lookup.
const maxCachedTypes = metrics.MaxTypesPerStream + 1

// countEvent counts one event by type without a label lookup per event.
func (r *Router) countEvent(typ string) {
	m := r.env.Metrics
	if m == nil {
		return
	}
	c, ok := r.counters[typ]
	if !ok {
		c = m.EventCounter(r.cfg.Stream, typ)
		if r.counters == nil {
			r.counters = map[string]prometheus.Counter{}
		}
		if len(r.counters) < maxCachedTypes {
			r.counters[typ] = c
		}
	}
	c.Inc()
}

// duplicate reports whether a numeric cursor is at or below the last one, and notes gaps.
func (r *Router) duplicate(f *messages.FrameReceived) bool {
	n, err := strconv.ParseInt(f.Cursor, 10, 64)
	if err != nil {
		return false // not numeric: order unknown, so nothing is dropped
	}
	if r.haveNum && n <= r.lastNum {
		r.stats.Duplicates++
		if r.env.Metrics != nil {
			r.env.Metrics.Duplicates.WithLabelValues(r.cfg.Stream).Inc()
		}
		return true
	}
	if r.haveNum && n > r.lastNum+1 {
		missing := uint64(n - r.lastNum - 1)
		r.stats.Gaps++
		r.stats.GapEvents += missing
		if r.env.Metrics != nil {
			r.env.Metrics.Gaps.WithLabelValues(r.cfg.Stream).Inc()
			r.env.Metrics.GapEvents.WithLabelValues(r.cfg.Stream).Add(float64(missing))
		}
		r.log.Warn().Int64("after", r.lastNum).Int64("next", n).Uint64("missing", missing).Msg("gap in cursor")
	}
	r.lastNum, r.haveNum = n, true
	return false
}

// reject counts a frame that cannot be routed, logs at most once a second, and dead-letters it.
func (r *Router) reject(ctx actor.Context, f *messages.FrameReceived) {
	r.stats.ParseErrors++
	r.stats.LastParseErr = f.Invalid
	if r.env.Metrics != nil {
		r.env.Metrics.ParseError(r.cfg.Stream, f.Invalid)
	}
	if f.At.Sub(r.rejectLog) >= time.Second {
		r.log.Warn().Str("reason", f.Invalid).Int("bytes", len(f.Data)).Uint64("suppressed", r.quiet).Msg("frame rejected")
		r.rejectLog, r.quiet = f.At, 0
	} else {
		r.quiet++
	}
	if pid := r.peers.Sinks[r.cfg.DeadLetter]; pid != nil {
		line := messages.AppendRejected(nil, r.cfg.Stream, f.Invalid, f.Via, f.At, f.Data)
		ctx.Send(pid, &messages.Deliver{Event: messages.Event{Stream: r.cfg.Stream, Type: "_rejected", Line: line}})
	}
}

// routedBatch is how many routed events one Routed message carries at most.
const routedBatch = 64

func (r *Router) sendRouted(ctx actor.Context) {
	if len(r.routed) == 0 {
		return
	}
	ctx.Send(r.peers.Cursor, &messages.Routed{Events: r.routed})
	r.routed = make([]messages.EventRouted, 0, routedBatch) // the sent slice belongs to the message
}

// report sends what the Cursor actor has not heard yet, the counts to the status owner and a
// sign of life to Heartbeat. It runs at most once per statsEvery while frames flow, so none
// of it costs anything per frame.
func (r *Router) report(ctx actor.Context) {
	r.sendRouted(ctx)
	if r.env.Status != nil {
		st := r.stats
		ctx.Send(r.env.Status, &st)
	}
	if m := r.env.Metrics; m != nil && !r.stats.LastEventAt.IsZero() {
		m.LastEvent.WithLabelValues(r.cfg.Stream).Set(float64(r.stats.LastEventAt.UnixNano()) / 1e9)
	}
	if r.peers.Heartbeat != nil && r.gen != 0 {
		ctx.Send(r.peers.Heartbeat, &messages.Activity{Gen: r.gen, At: r.lastAt})
	}
}

// routerReport is the router's own timer tick.
type routerReport struct{}
