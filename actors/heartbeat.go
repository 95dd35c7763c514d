package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
)

// Heartbeat decides when the connection is stale: it asks Connection to ping every Interval and
// fails the socket when no pong came within Timeout, so a half-open link is found within
// Timeout plus at most one Interval. With StaleAfter it also watches for a feed that answers
// pings but sends no events: it asks for the subscriptions again, then reconnects.
type Heartbeat struct {
	log    zerolog.Logger
	env    Env
	stream string
	cfg    config.HeartbeatConfig
	conn   *actor.PID

	gen      uint64 // generation being watched; 0 while disconnected
	pingAt   time.Time
	waiting  bool          // a ping is unanswered
	activity time.Time     // last event (or pong) seen
	nudged   bool          // subscriptions were re-sent for the current silence
	tick     Timer         // next ping; nil when disarmed
	deadline Timer         // pong deadline; nil when no ping is unanswered
	stale    Timer         // data-staleness check
	server   time.Duration // the server pings (Engine.IO): none for this long means dead; 0 = we ping
}

type heartbeatTick struct{ gen uint64 }
type pongDeadline struct{ gen uint64 }
type staleCheck struct{ gen uint64 }

// HeartbeatProps builds the props; the producer runs again on every restart.
func HeartbeatProps(env Env, stream string, cfg config.HeartbeatConfig, peers Peers) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &Heartbeat{log: env.Named(NameHeartbeat).With().Str("stream", stream).Logger(),
			env: env, stream: stream, cfg: cfg, conn: peers.Connection}
	})
}

func (h *Heartbeat) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *messages.Connected:
		h.disarm()
		h.gen, h.waiting, h.nudged = msg.Gen, false, false
		h.activity = h.env.Clock.Now()
		h.server = 0
		if msg.PingInterval > 0 {
			h.server = msg.PingInterval + msg.PingTimeout
		}
		switch {
		case h.cfg.Mode == config.HeartbeatOff:
		case h.server > 0:
			h.awaitServer(ctx)
		default:
			h.tick = h.after(ctx, h.cfg.Interval.Duration, &heartbeatTick{gen: h.gen})
		}
		if h.cfg.StaleAfter.Duration > 0 {
			h.stale = h.after(ctx, h.cfg.StaleAfter.Duration, &staleCheck{gen: h.gen})
		}
	case *heartbeatTick:
		if msg.gen != h.gen {
			return // armed for an earlier connection
		}
		ctx.Send(h.conn, &messages.SendPing{Gen: h.gen})
		if !h.waiting {
			h.waiting, h.pingAt = true, h.env.Clock.Now()
			h.deadline = h.after(ctx, h.cfg.Timeout.Duration, &pongDeadline{gen: h.gen})
		}
		h.tick = h.after(ctx, h.cfg.Interval.Duration, &heartbeatTick{gen: h.gen})
	case *pongDeadline:
		if msg.gen != h.gen || !h.waiting {
			return
		}
		timeout := h.cfg.Timeout.Duration
		if h.server > 0 {
			timeout = h.server
		}
		h.log.Warn().Uint64("gen", h.gen).Dur("timeout", timeout).Msg("connection stale")
		ctx.Send(h.conn, &messages.ConnectionStale{Gen: h.gen, Reason: "heartbeat timeout"})
		h.gen = 0
		h.disarm()
	case *messages.PongReceived:
		switch {
		case msg.Gen != h.gen:
		case h.server > 0:
			h.awaitServer(ctx)
		default:
			h.pong(msg.RTT)
		}
	case *messages.Activity:
		if msg.Gen != h.gen {
			return
		}
		h.activity, h.nudged = msg.At, false
		if h.server > 0 {
			if h.cfg.AnyFrameAlive && h.waiting {
				h.awaitServer(ctx)
			}
			return
		}
		if h.cfg.AnyFrameAlive && !msg.At.Before(h.pingAt) {
			h.pong(0) // only frames read after the ping prove the link still carries data
		}
	case *staleCheck:
		if msg.gen != h.gen {
			return
		}
		h.checkStale(ctx)
	case *messages.Disconnected, *actor.Stopping, *actor.Restarting:
		h.gen = 0
		h.disarm()
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		h.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

// awaitServer (re)starts the wait for the server's next ping: Engine.IO's pingInterval plus
// pingTimeout, as the protocol asks of a client.
func (h *Heartbeat) awaitServer(ctx actor.Context) {
	stop(&h.deadline)
	h.waiting, h.pingAt = true, h.env.Clock.Now()
	h.deadline = h.after(ctx, h.server, &pongDeadline{gen: h.gen})
}

func (h *Heartbeat) pong(rtt time.Duration) {
	if !h.waiting {
		return
	}
	if rtt == 0 {
		rtt = h.env.Clock.Now().Sub(h.pingAt)
	}
	h.waiting = false
	stop(&h.deadline)
	h.env.Metrics.HeartbeatRTT.WithLabelValues(h.stream).Observe(rtt.Seconds())
}

// checkStale runs every StaleAfter: the first silent period re-sends subscriptions, the next
// one reconnects.
func (h *Heartbeat) checkStale(ctx actor.Context) {
	silent := h.env.Clock.Now().Sub(h.activity)
	wait := h.cfg.StaleAfter.Duration
	switch {
	case silent < wait:
		wait -= silent
	case !h.nudged:
		h.log.Warn().Dur("silent", silent).Msg("no events; subscribing again")
		ctx.Send(h.conn, &messages.Resubscribe{Gen: h.gen})
		h.nudged, h.activity = true, h.env.Clock.Now()
	default:
		h.log.Warn().Dur("silent", silent).Msg("no events after resubscribing; reconnecting")
		ctx.Send(h.conn, &messages.ConnectionStale{Gen: h.gen, Reason: "no events"})
		h.gen = 0
		h.disarm()
		return
	}
	h.stale = h.after(ctx, wait, &staleCheck{gen: h.gen})
}

func (h *Heartbeat) after(ctx actor.Context, d time.Duration, msg any) Timer {
	self, root := ctx.Self(), ctx.ActorSystem().Root // copies: the callback runs elsewhere
	return h.env.Clock.AfterFunc(d, func() { root.Send(self, msg) })
}

func (h *Heartbeat) disarm() {
	stop(&h.tick)
	stop(&h.deadline)
	stop(&h.stale)
	h.waiting = false
}

// stop cancels a timer and forgets it.
func stop(t *Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}
