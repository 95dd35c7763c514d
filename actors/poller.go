package actors

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/framing"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/poll"
	"holdfast/retry"
	"holdfast/tlsconf"
)

// Poller keeps events flowing over HTTP while the socket is down for good: it polls poll_url
// every interval (backing off on errors), feeds every event to the Router with via "poll",
// and posts queued messages to send_url. The stream starts it when reconnects run out and
// stops it once the socket has stayed healthy for promote_after.
type Poller struct {
	log    zerolog.Logger
	env    Env
	cfg    config.StreamConfig
	fb     config.FallbackConfig
	peers  Peers
	client *poll.Client
	errors retry.Backoff // the interval after failures: doubled per failure up to max_interval
	jitter retry.Jitter

	cursor   string
	frames   *framing.Decoder // the stream's framing, made on the first poll
	dedupe   poll.Dedupe
	failures int
	resend   bool // a send failed, so the queue holds; the next good poll tells it to flush here again
	timer    Timer
	cancel   context.CancelFunc // cancels the request in flight
	busy     chan struct{}      // closed when the goroutine in flight ends; nil when idle
	sending  chan struct{}      // likewise for a send
}

type (
	pollTick struct{}
	polled   struct {
		res poll.Result
		err error
	}
	posted struct {
		id  uint64
		err error
	}
)

// PollerProps builds the props; the producer runs again on every restart.
func PollerProps(env Env, sc config.StreamConfig, peers Peers) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &Poller{log: env.Named(NamePoller).With().Str("stream", sc.Name).Logger(),
			env: env, cfg: sc, fb: *sc.Fallback, peers: peers}
	})
}

func (p *Poller) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		if err := p.setup(); err != nil {
			p.log.Error().Err(err).Msg("poller cannot start")
			return
		}
		p.log.Info().Dur("interval", p.fb.Interval.Duration).Msg("polling started")
		if p.peers.Cursor != nil {
			ctx.Request(p.peers.Cursor, &messages.GetCursor{})
			return
		}
		p.start(ctx)
	case *messages.CursorValue:
		p.cursor = msg.Value
		p.start(ctx)
	case *pollTick:
		p.timer = nil
		p.start(ctx)
	case *polled:
		p.busy = nil
		p.handle(ctx, msg)
	case *messages.SendOutbound:
		p.send(ctx, msg)
	case *posted:
		p.sending = nil
		if msg.err != nil {
			p.resend = true
			p.log.Warn().Err(msg.err).Uint64("id", msg.id).Msg("send_url post failed")
			ctx.Send(p.peers.Queue, &messages.OutboundFailed{ID: msg.id, Err: msg.err})
			return
		}
		ctx.Send(p.peers.Queue, &messages.OutboundWritten{ID: msg.id})
	case *actor.Stopping, *actor.Restarting:
		stop(&p.timer)
		if p.cancel != nil {
			p.cancel()
		}
		for _, ch := range []chan struct{}{p.busy, p.sending} {
			if ch != nil {
				<-ch
			}
		}
		p.log.Info().Msg("polling stopped")
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		p.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

func (p *Poller) setup() error {
	tlsCfg, err := tlsconf.Client(p.cfg.TLS)
	if err != nil {
		return err
	}
	j, err := retry.ParseJitter(p.fb.Jitter, p.env.Rand)
	if err != nil {
		return err
	}
	p.jitter = j
	p.errors = retry.Backoff{Min: p.fb.Interval.Duration, Max: p.fb.MaxInterval.Duration, Multiplier: 2}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	p.client = poll.New(p.fb, &http.Client{Transport: tr})
	return nil
}

// start runs one poll in a goroutine the actor owns; the answer comes back as polled.
func (p *Poller) start(ctx actor.Context) {
	if p.busy != nil || p.client == nil {
		return
	}
	auth, err := p.auth()
	if err != nil {
		p.handle(ctx, &polled{err: err})
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), p.fb.Timeout.Duration)
	self, root, client, cursor, done := ctx.Self(), ctx.ActorSystem().Root, p.client, p.cursor, make(chan struct{})
	p.cancel, p.busy = cancel, done
	go func() {
		defer close(done)
		defer cancel()
		res, err := client.Poll(rctx, cursor, auth)
		root.Send(self, &polled{res: res, err: err})
	}()
}

func (p *Poller) handle(ctx actor.Context, msg *polled) {
	result := "ok"
	next := p.fb.Interval.Duration
	switch {
	case msg.err == nil:
		p.failures = 0
		if p.resend { // the upstream answers again: retry the queue from its front, paced by the polls
			p.resend = false
			ctx.Send(p.peers.Queue, &messages.QueueMode{Via: messages.ViaPoll})
		}
		if msg.res.NotModified {
			result = "not_modified" // nothing new; Dedupe keeps remembering the last body
		} else {
			p.route(ctx, msg.res.Events)
		}
	case errors.Is(msg.err, poll.ErrAuth):
		result = "auth_failed"
		p.failures++
		next = p.fb.MaxInterval.Duration
		p.log.Error().Err(msg.err).Dur("retry_in", next).Msg("poll rejected the credentials")
	case errors.Is(msg.err, poll.ErrBody):
		result = "bad_body"
		p.failures++
		next = p.errors.Capped(p.failures + 1)
		p.env.Metrics.ParseErrors.WithLabelValues(p.cfg.Name, metrics.ParseReasonPollBody).Inc()
		p.log.Warn().Err(msg.err).Dur("retry_in", next).Msg("poll body unusable")
	default:
		result = "error"
		p.failures++
		next = p.errors.Capped(p.failures + 1)
		var se *poll.StatusError
		if errors.As(msg.err, &se) {
			next = max(next, se.RetryAfter) // capped at max_interval where it was read
		}
		p.log.Warn().Err(msg.err).Int("failures", p.failures).Dur("retry_in", next).Msg("poll failed")
	}
	p.env.Metrics.PollRequests.WithLabelValues(p.cfg.Name, result).Inc()
	p.reportResult(ctx, msg.err)
	if p.jitter != nil {
		next = p.jitter(next)
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	p.timer = p.env.Clock.AfterFunc(next, func() { root.Send(self, &pollTick{}) })
}

// route feeds polled events to the Router exactly as the reader does, with via "poll".
func (p *Poller) route(ctx actor.Context, events [][]byte) {
	if !p.cfg.HasCursor() {
		events = p.dedupe.Filter(events)
	}
	if p.frames == nil {
		codec, err := framing.New(p.cfg)
		if err != nil { // validated at load
			p.log.Error().Err(err).Msg("framing")
			return
		}
		p.frames = codec.Decoder()
	}
	now := p.env.Clock.Now()
	for _, ev := range events {
		f, data := p.frames.Frame(ev)
		ctx.Send(p.peers.Router, &messages.FrameReceived{Data: data, Type: f.Type, Cursor: f.Cursor,
			Invalid: f.Invalid, At: now, Via: messages.ViaPoll})
		if f.Cursor != "" {
			p.cursor = f.Cursor
		}
	}
}

// send posts one queued message to send_url; the queue sends one at a time.
func (p *Poller) send(ctx actor.Context, msg *messages.SendOutbound) {
	auth, err := p.auth()
	if err != nil || p.client == nil || p.sending != nil {
		if err == nil {
			err = errors.New("poller busy or not started")
		}
		p.resend = true
		ctx.Send(p.peers.Queue, &messages.OutboundFailed{ID: msg.ID, Err: err})
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), p.fb.Timeout.Duration)
	self, root, client, done := ctx.Self(), ctx.ActorSystem().Root, p.client, make(chan struct{})
	p.sending = done
	go func() {
		defer close(done)
		defer cancel()
		err := client.Send(rctx, msg.Data, auth)
		root.Send(self, &posted{id: msg.ID, err: err})
	}()
}

// auth reads the token afresh for every request, as the socket does for every dial.
func (p *Poller) auth() (poll.Auth, error) {
	a := p.cfg.Auth
	if !a.Mode.SendsToken() {
		return poll.Auth{}, nil
	}
	tok, err := config.ReadToken(a.TokenEnv, a.TokenFile)
	if err != nil {
		return poll.Auth{}, fmt.Errorf("read token: %w", err)
	}
	if a.Mode == config.AuthQuery {
		return poll.Auth{QueryParam: a.QueryParam, QueryValue: string(tok)}, nil
	}
	v := string(tok)
	if a.Scheme != "" {
		v = a.Scheme + " " + v
	}
	return poll.Auth{Header: a.Header, Value: v}, nil
}

// reportResult tells the status owner how the last poll went: readiness needs it.
func (p *Poller) reportResult(ctx actor.Context, err error) {
	if p.env.Status == nil {
		return
	}
	res := &messages.PollResult{Stream: p.cfg.Name, At: p.env.Clock.Now()}
	if err != nil {
		res.Err = messages.Printable(err.Error())
	}
	ctx.Send(p.env.Status, res)
}
