package actors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/framing"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/retry"
	"holdfast/tlsconf"
)

// closeGrace bounds the close handshake at shutdown: how long Connection keeps reading for
// the peer's close frame after sending its own.
const closeGrace = time.Second

// probeEvery is how many outbound messages the writer sends between two confirmation probes
// (a control ping carrying the last id written) while the backlog keeps it busy; it also
// probes whenever it runs out of work. The pong confirms every message written before it.
const probeEvery = 32

// probePrefix marks the payload of a confirmation probe; the id follows in decimal.
const probePrefix = "holdfast-out:"

// Connection owns one socket per incarnation: it dials in Started, authenticates, subscribes,
// and fails (panics with *messages.Failure) as soon as the socket is lost. It never retries by
// itself: the stream's strategy restarts it, and a restart builds a fresh struct.
type Connection struct {
	log      zerolog.Logger
	env      Env
	cfg      config.StreamConfig
	peers    Peers
	host     string
	gen      uint64
	gens     *atomic.Uint64 // shared by every incarnation, so generations never repeat
	codec    *framing.Codec // the stream's protocol; nil when its config cannot be used (codecErr)
	codecErr error

	behavior   actor.Behavior
	sock       *websocket.Conn
	out        chan outFrame // to the writer goroutine
	closing    chan struct{} // closed once the close frame is queued: the reader discards data
	readerDone chan struct{}
	subscribed chan string // to the reader goroutine: the cursor the latest subscriptions carried
	writerDone chan struct{}
	cancelDial context.CancelFunc
	dialStart  time.Time
	handshake  time.Duration
	readyAt    time.Time // zero until subscriptions are sent
	authTimer  Timer
	pingEvery  time.Duration // the server's ping interval and timeout (Engine.IO open); 0 = ours
	pingWithin time.Duration
}

// outFrame is one write for the writer goroutine; id > 0 marks a queued outbound message.
type outFrame struct {
	kind int // websocket.TextMessage, PingMessage or CloseMessage
	data []byte
	id   uint64
}

// Self-messages from the connection's goroutines and timers.
type (
	dialed struct {
		gen    uint64
		sock   *websocket.Conn
		status int
		hint   time.Duration // Retry-After, capped at reconnect.max_hint
		err    error
	}
	readFailed struct {
		gen  uint64
		err  error
		code int // close code, 0 when none
		text string
	}
	writeFailed struct {
		gen uint64
		err error
	}
	authAnswer struct {
		gen uint64
		ok  bool
		err error // the server's reason, when it gave one
	}
	authExpired struct{ gen uint64 }
	// reply is an answer the reader owes the server (its application ping, Engine.IO ping).
	reply struct {
		gen  uint64
		data []byte
	}
	// engineOpen is Engine.IO's open packet: the server's heartbeat timing.
	engineOpen struct {
		gen               uint64
		interval, timeout time.Duration
	}
	// sessionEnded is the server ending the session or a subscription by a protocol message.
	sessionEnded struct {
		gen  uint64
		kind messages.FailureKind
		err  error
	}
	// protocolNote is protocol traffic worth a warning that ends nothing.
	protocolNote struct {
		gen uint64
		err error
	}
)

// ConnectionProps builds the props; the producer runs again on every restart.
func ConnectionProps(env Env, cfg config.StreamConfig, peers Peers) *actor.Props {
	gens := new(atomic.Uint64)
	codec, codecErr := framing.New(cfg)
	return actor.PropsFromProducer(func() actor.Actor {
		c := &Connection{log: env.Named(NameConnection).With().Str("stream", cfg.Name).Logger(),
			env: env, cfg: cfg, peers: peers, host: cfg.Host(), gens: gens, behavior: actor.NewBehavior(),
			codec: codec, codecErr: codecErr}
		c.behavior.Become(c.dialing)
		return c
	})
}

func (c *Connection) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		c.dial(ctx)
	case *actor.Stopping:
		c.teardown(true)
	case *actor.Restarting:
		c.teardown(false)
	case *messages.SendOutbound:
		if c.readyAt.IsZero() || msg.Gen != c.gen {
			ctx.Send(c.peers.Queue, &messages.OutboundFailed{ID: msg.ID, Gen: msg.Gen, Err: errors.New("not connected")})
			return
		}
		c.write(outFrame{kind: websocket.TextMessage, data: c.codec.Outbound(msg.ID, msg.Data), id: msg.ID})
	case *messages.SendAck:
		if msg.Gen == c.gen && c.sock != nil { // an ack for an earlier socket is dropped: the server redelivers
			c.write(outFrame{kind: websocket.TextMessage, data: msg.Data})
		}
	case *reply:
		if msg.gen == c.gen && c.sock != nil {
			c.write(outFrame{kind: websocket.TextMessage, data: msg.data})
		}
	case *sessionEnded:
		if msg.gen == c.gen && c.sock != nil {
			c.fail(ctx, &messages.Failure{Kind: msg.kind, Err: msg.err}, 0)
		}
	case *protocolNote:
		if msg.gen == c.gen {
			c.log.Warn().Err(msg.err).Str("protocol", c.codec.Protocol()).Msg("protocol message")
		}
	case *messages.ConnectionStale:
		if msg.Gen == c.gen && c.sock != nil {
			c.fail(ctx, &messages.Failure{Kind: messages.Transient, Err: fmt.Errorf("%w: %s", errStale, msg.Reason)}, 0)
		}
	case *readFailed:
		if msg.gen == c.gen {
			c.lost(ctx, msg)
		}
	case *writeFailed:
		if msg.gen == c.gen {
			c.fail(ctx, &messages.Failure{Kind: messages.Transient, Err: msg.err}, 0)
		}
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		c.behavior.Receive(ctx)
	}
}

// dialing waits for the dial goroutine.
func (c *Connection) dialing(ctx actor.Context) {
	msg, ok := ctx.Message().(*dialed)
	if !ok {
		c.unexpected(ctx)
		return
	}
	if msg.gen != c.gen {
		if msg.sock != nil {
			_ = msg.sock.Close()
		}
		return
	}
	c.cancelDial()
	if msg.err != nil {
		kind := messages.Transient
		if msg.status == http.StatusUnauthorized || msg.status == http.StatusForbidden {
			kind = messages.AuthRejected
		}
		panic(&messages.Failure{Kind: kind, Err: msg.err, Hint: msg.hint, Gen: c.gen})
	}
	c.sock, c.handshake = msg.sock, c.env.Clock.Now().Sub(c.dialStart)
	c.sock.SetReadLimit(int64(c.cfg.ReadLimit))
	wrote := new(atomic.Uint64) // the last outbound id written; the writer stores, the reader loads
	c.closing = make(chan struct{})
	c.startWriter(ctx, wrote)
	c.startReader(ctx, wrote)
	c.log.Info().Str("host", c.host).Int64("handshake_ms", c.handshake.Milliseconds()).Msg("connected")
	c.env.Metrics.Connections.WithLabelValues(c.cfg.Name).Inc()
	c.env.Metrics.Handshake.WithLabelValues(c.cfg.Name).Observe(c.handshake.Seconds())
	c.hello(ctx)
}

// authenticating waits for auth_success (connection_ack, the namespace connect); nothing else
// is sent before it.
func (c *Connection) authenticating(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *engineOpen:
		if msg.gen != c.gen {
			return
		}
		c.pingEvery, c.pingWithin = msg.interval, msg.timeout
		if c.peers.Cursor == nil {
			c.connectNamespace(ctx, "")
			return
		}
		ctx.Request(c.peers.Cursor, &messages.GetCursor{}) // the auth payload may carry it
	case *messages.CursorValue:
		c.connectNamespace(ctx, msg.Value)
	case *authAnswer:
		if msg.gen != c.gen {
			return
		}
		stop(&c.authTimer)
		if !msg.ok {
			err := msg.err
			if err == nil {
				err = errors.New("upstream refused the token")
			}
			c.fail(ctx, &messages.Failure{Kind: messages.AuthRejected, Err: err}, 0)
			return
		}
		c.log.Info().Msg("authenticated")
		c.subscribe(ctx)
	case *authExpired:
		if msg.gen == c.gen {
			c.fail(ctx, &messages.Failure{Kind: messages.Transient,
				Err: fmt.Errorf("no %s within %v", c.awaited(), c.cfg.Auth.Timeout.Duration)}, 0)
		}
	default:
		c.unexpected(ctx)
	}
}

// subscribing waits for the cursor, when one is configured, before subscribing.
func (c *Connection) subscribing(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *messages.CursorValue:
		c.sendSubscriptions(ctx, msg.Value)
	default:
		c.unexpected(ctx)
	}
}

// ready is the steady state.
func (c *Connection) ready(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *messages.SendPing:
		if msg.Gen != c.gen {
			return
		}
		mode, ping := c.cfg.Heartbeat.Mode, c.codec.Ping()
		if mode.Messages() && ping != nil {
			c.write(outFrame{kind: websocket.TextMessage, data: ping})
		}
		if mode.Controls() {
			c.write(outFrame{kind: websocket.PingMessage})
		}
	case *messages.Resubscribe:
		switch {
		case msg.Gen != c.gen:
		case c.cfg.Protocol == framing.GraphQL: // the same operation id again would be refused (4409)
			c.fail(ctx, &messages.Failure{Kind: messages.Transient,
				Err: fmt.Errorf("%w: no events; %s subscribes again on a new connection", errStale, framing.GraphQL)}, 0)
		default:
			c.subscribe(ctx)
		}
	case *authAnswer:
		if msg.gen == c.gen && !msg.ok { // a token revoked mid-session
			c.fail(ctx, &messages.Failure{Kind: messages.AuthRejected, Err: errors.New("upstream revoked the token")}, 0)
		}
	case *messages.CursorValue: // answer to a Resubscribe
		c.sendSubscriptions(ctx, msg.Value)
	default:
		c.unexpected(ctx)
	}
}

func (c *Connection) unexpected(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *messages.SendPing, *messages.Resubscribe, *authAnswer, *authExpired, *dialed, *messages.CursorValue, *engineOpen:
		return // meant for another state or an earlier socket
	}
	c.log.Warn().Type("type", ctx.Message()).Msg("unexpected message")
}

// dial starts the handshake in a goroutine; its result comes back as dialed.
func (c *Connection) dial(ctx actor.Context) {
	c.gen = c.gens.Add(1)
	c.dialStart = c.env.Clock.Now()
	if c.codecErr != nil {
		panic(&messages.Failure{Kind: messages.Protocol, Err: c.codecErr})
	}
	target, header, err := c.target()
	if err != nil {
		panic(&messages.Failure{Kind: messages.Protocol, Err: err})
	}
	tlsCfg, err := tlsconf.Client(c.cfg.TLS)
	if err != nil {
		panic(&messages.Failure{Kind: messages.Protocol, Err: err})
	}
	d := websocket.Dialer{
		Proxy:             http.ProxyFromEnvironment,
		HandshakeTimeout:  c.cfg.HandshakeTimeout.Duration,
		Subprotocols:      c.subprotocols(),
		EnableCompression: c.cfg.Compression,
		TLSClientConfig:   tlsCfg,
		ReadBufferSize:    32 << 10,
		WriteBufferSize:   16 << 10,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &readHook{Conn: nc}, nil
		},
	}
	dctx, cancel := context.WithTimeout(context.Background(), c.cfg.HandshakeTimeout.Duration)
	c.cancelDial = cancel
	self, root, gen, clock, maxHint := ctx.Self(), ctx.ActorSystem().Root, c.gen, c.env.Clock, c.cfg.Reconnect.MaxHint.Duration
	host, log := c.host, c.log
	log.Info().Str("host", host).Uint64("gen", gen).Msg("connecting")
	go func() {
		defer func() {
			if p := recover(); p != nil {
				root.Send(self, &dialed{gen: gen, err: goroutinePanic(log, "dial", p)})
			}
		}()
		sock, resp, err := d.DialContext(dctx, target, header)
		r := &dialed{gen: gen, sock: sock}
		if err != nil {
			r.err = fmt.Errorf("dial %s: %w", host, err)
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				r.err = err // already "dial tcp host:port: …"
			}
			if resp != nil {
				r.status = resp.StatusCode
				r.hint = retry.RetryAfter(resp.Header, clock.Now(), maxHint)
				r.err = fmt.Errorf("dial %s: %s", host, resp.Status)
			}
		}
		root.Send(self, r)
	}()
}

// target builds the URL and headers, reading the token afresh so a rotated one is used.
func (c *Connection) target() (string, http.Header, error) {
	header := http.Header{}
	for k, v := range c.cfg.Headers {
		header.Set(k, v)
	}
	target := c.cfg.URL
	if c.cfg.Protocol == framing.SocketIO {
		u, err := url.Parse(target)
		if err != nil {
			return "", nil, fmt.Errorf("parse url: %w", err) // validated at load: cannot happen
		}
		u.Path = c.cfg.SocketIO.Path
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += framing.EngineIOQuery
		target = u.String()
	}
	a := c.cfg.Auth
	if a.Mode != config.AuthHeader && a.Mode != config.AuthQuery {
		return target, header, nil
	}
	tok, err := config.ReadToken(a.TokenEnv, a.TokenFile)
	if err != nil {
		return "", nil, fmt.Errorf("read token: %w", err)
	}
	if a.Mode == config.AuthHeader {
		v := string(tok)
		if a.Scheme != "" {
			v = a.Scheme + " " + v
		}
		header.Set(a.Header, v)
		return target, header, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, fmt.Errorf("parse url: %w", err) // validated at load: cannot happen
	}
	q := u.Query()
	q.Set(a.QueryParam, string(tok))
	u.RawQuery = q.Encode()
	return u.String(), header, nil
}

// subprotocols offers graphql-transport-ws's own subprotocol besides the configured ones.
func (c *Connection) subprotocols() []string {
	if c.cfg.Protocol != framing.GraphQL {
		return c.cfg.Subprotocols
	}
	for _, p := range c.cfg.Subprotocols {
		if p == framing.GraphQL {
			return c.cfg.Subprotocols
		}
	}
	return append([]string{framing.GraphQL}, c.cfg.Subprotocols...)
}

// token reads the token that goes in a message (auth mode "message"); "" for other modes.
func (c *Connection) token() (string, error) {
	a := c.cfg.Auth
	if a.Mode != config.AuthMessage {
		return "", nil
	}
	tok, err := config.ReadToken(a.TokenEnv, a.TokenFile)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	return string(tok), nil
}

// hello sends what the protocol sends first (the auth message, connection_init) and waits for
// its answer, or subscribes at once when the protocol has none.
func (c *Connection) hello(ctx actor.Context) {
	tok, err := c.token()
	if err != nil {
		c.fail(ctx, &messages.Failure{Kind: messages.Protocol, Err: err}, 0)
		return
	}
	msg, wait := c.codec.Hello(tok)
	if msg != nil {
		c.write(outFrame{kind: websocket.TextMessage, data: msg})
	}
	if !wait {
		c.subscribe(ctx)
		return
	}
	c.behavior.Become(c.authenticating)
	self, root, gen := ctx.Self(), ctx.ActorSystem().Root, c.gen
	c.authTimer = c.env.Clock.AfterFunc(c.cfg.Auth.Timeout.Duration, func() { root.Send(self, &authExpired{gen: gen}) })
}

// connectNamespace sends socket.io's namespace connect once Engine.IO is open.
func (c *Connection) connectNamespace(ctx actor.Context, cursor string) {
	tok, err := c.token()
	if err != nil {
		c.fail(ctx, &messages.Failure{Kind: messages.Protocol, Err: err}, 0)
		return
	}
	c.write(outFrame{kind: websocket.TextMessage, data: c.codec.Connect(tok, cursor)})
}

// awaited names the answer authenticating waits for, for the timeout's error.
func (c *Connection) awaited() string {
	switch c.cfg.Protocol {
	case framing.GraphQL:
		return "connection_ack"
	case framing.SocketIO:
		return "namespace connect"
	}
	return c.cfg.Auth.SuccessType
}

// subscribe asks for the cursor when one is kept, else subscribes at once.
func (c *Connection) subscribe(ctx actor.Context) {
	if c.peers.Cursor == nil {
		c.sendSubscriptions(ctx, "")
		return
	}
	if c.readyAt.IsZero() {
		c.behavior.Become(c.subscribing)
	}
	ctx.Request(c.peers.Cursor, &messages.GetCursor{})
}

// sendSubscriptions writes the configured subscribe messages in order, adding the cursor.
// The reader hears of the cursor first, so the Router learns it (messages.Subscribed) before
// any frame that answers these subscriptions.
func (c *Connection) sendSubscriptions(ctx actor.Context, cursor string) {
	subs, err := c.codec.Subscriptions(cursor)
	if err != nil {
		c.fail(ctx, &messages.Failure{Kind: messages.Protocol, Err: err}, 0)
		return
	}
	if c.subscribed != nil && c.peers.Cursor != nil {
		select {
		case <-c.subscribed: // the reader has not read since the last one: replace it
		default:
		}
		since := cursor
		if !c.codec.CarriesCursor() {
			since = "" // nothing sent asked for what follows the cursor
		}
		c.subscribed <- since // the actor is the only sender, so there is room now
	}
	for _, data := range subs {
		c.write(outFrame{kind: websocket.TextMessage, data: data})
	}
	if !c.readyAt.IsZero() {
		c.log.Info().Int("subscriptions", len(c.cfg.Subscribe)).Str("cursor", cursor).Msg("subscribed again")
		return
	}
	c.readyAt = c.env.Clock.Now()
	c.behavior.Become(c.ready)
	c.log.Info().Int("subscriptions", len(c.cfg.Subscribe)).Str("cursor", cursor).Msg("subscribed")
	ev := &messages.Connected{Gen: c.gen, Host: c.host, Handshake: c.handshake,
		PingInterval: c.pingEvery, PingTimeout: c.pingWithin}
	for _, p := range []*actor.PID{c.peers.Stream, c.peers.Heartbeat, c.peers.Queue} {
		if p != nil {
			ctx.Send(p, ev)
		}
	}
}

// disconnectReason maps a failure onto the few values of the disconnects metric's label.
func disconnectReason(f *messages.Failure, code int) string {
	switch {
	case f.Kind == messages.AuthRejected:
		return metrics.ReasonAuth
	case f.Kind == messages.Protocol:
		return metrics.ReasonProtocol
	case errors.Is(f.Err, errStale):
		return metrics.ReasonStale
	case code != 0 && code != websocket.CloseAbnormalClosure:
		return metrics.ReasonClosed
	}
	return metrics.ReasonError
}

// errStale marks a link that Heartbeat declared dead.
var errStale = errors.New("stale")

func (c *Connection) write(f outFrame) {
	c.out <- f // the writer drains it under a deadline, so this wait is bounded
}

// lost handles the reader's end: a close frame or a read error.
func (c *Connection) lost(ctx actor.Context, msg *readFailed) {
	f := &messages.Failure{Kind: messages.Transient, Err: msg.err}
	switch msg.code {
	case websocket.CloseTryAgainLater: // the reason may say how long, in seconds
		f.SlowDown = true
		f.Hint = retry.Hint(msg.text, time.Time{}, c.cfg.Reconnect.MaxHint.Duration)
	case websocket.ClosePolicyViolation: // the token was refused or revoked, in every auth mode
		if c.cfg.Auth.Mode.SendsToken() {
			f.Kind = messages.AuthRejected
		}
	default:
		if c.cfg.Protocol == framing.GraphQL {
			if kind, ok := framing.GraphQLFailure(msg.code); ok {
				f.Kind = kind
			}
			if msg.code == framing.CloseTooManyInits { // the server asks us to slow down
				f.SlowDown = true
			}
		}
	}
	c.fail(ctx, f, msg.code) // a close error's text already carries the peer's reason
}

// fail tears the socket down, tells the peers, and hands the reason to the supervisor.
func (c *Connection) fail(ctx actor.Context, f *messages.Failure, code int) {
	wasReady := !c.readyAt.IsZero()
	up := time.Duration(0)
	if wasReady {
		up = c.env.Clock.Now().Sub(c.readyAt)
	}
	c.teardown(false)
	c.log.Info().Uint64("gen", c.gen).Int("close_code", code).Dur("up", up).Err(f.Err).Msg("disconnected")
	c.env.Metrics.Disconnect(c.cfg.Name, disconnectReason(f, code))
	if wasReady {
		ev := &messages.Disconnected{Gen: c.gen, Reason: f.Err, CloseCode: code, Up: up}
		for _, p := range []*actor.PID{c.peers.Heartbeat, c.peers.Queue} {
			if p != nil {
				ctx.Send(p, ev)
			}
		}
	}
	f.Gen, f.CloseCode = c.gen, code
	panic(f)
}

// startReader runs the only reader of the socket. Events go straight to the router, whose
// bounded mailbox blocks this goroutine when sinks fall behind; protocol replies go to their
// owners. It confirms outbound messages to the Queue: a pong to a probe confirms the id it
// carries (the peer read everything before the probe), and the peer's answer to our close
// frame confirms every write. Until the peer has answered a probe on this socket, any frame
// read after a write completed confirms that write too (wrote is the writer's last id), for
// upstreams that answer no pings. Once closing is closed it reads on to the peer's close
// frame but discards data frames, so the socket is never closed with unread input (which
// makes the kernel send a reset). It reports through messages, never via c or ctx.
func (c *Connection) startReader(ctx actor.Context, wrote *atomic.Uint64) {
	sock, gen, done, closing := c.sock, c.gen, make(chan struct{}), c.closing
	self, root, clock := ctx.Self(), ctx.ActorSystem().Root, c.env.Clock
	router, heartbeat, queue := c.peers.Router, c.peers.Heartbeat, c.peers.Queue
	dec, cfg, log := c.codec.Decoder(), c.cfg, c.log
	subscribed := make(chan string, 1)
	c.readerDone, c.subscribed = done, subscribed
	// Owned by the reader goroutine, which also runs the pong handler.
	var seen uint64 // the highest id confirmed
	pongs := false  // the peer answered a probe: from then on only pongs and the close confirm
	confirm := func(id uint64) {
		if id > seen && queue != nil {
			seen = id
			root.Send(queue, &messages.OutboundConfirmed{Gen: gen, UpTo: id})
		}
	}
	sock.SetPongHandler(func(data string) error {
		if id, ok := parseProbe(data); ok {
			pongs = true
			confirm(id) // not a heartbeat pong: its ping may predate the heartbeat's
			return nil
		}
		root.Send(heartbeat, &messages.PongReceived{Gen: gen})
		return nil
	})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				root.Send(self, &readFailed{gen: gen, err: goroutinePanic(log, "reader", p)})
			}
		}()
		var scratch []byte // reused between frames; each frame is copied into arena
		var (
			batch = framePool.get() // read, not yet handed on
			arena = arenaPool.get() // holds their Data; it goes with them, and the router gives both back
			size  int64             // the batch's Data lengths added up
			at    time.Time         // the batch's clock read, taken with its first frame
		)
		handOn := func() {
			if len(batch) == 0 {
				return
			}
			root.Send(router, &messages.FramesReceived{Frames: batch, Bytes: size, Buf: arena})
			batch, arena = framePool.get(), arenaPool.get() // the sent ones belong to the message
			size = 0
		}
		h := hookOf(sock)
		hooked := h != nil
		if hooked {
			h.before = handOn // runs on this goroutine, inside gorilla's reads
		}
		discarded := 0
		defer func() {
			if discarded > 0 {
				log.Info().Int("frames", discarded).Msg("frames after the close frame discarded")
			}
		}()
		for {
			kind, data, err := readFrame(sock, scratch[:0])
			if cap(data) <= maxScratch {
				scratch = data
			}
			if err != nil {
				handOn() // what was read before the failure is routed
				rf := &readFailed{gen: gen, err: fmt.Errorf("read: %w", err)}
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					rf.code, rf.text = ce.Code, ce.Text
					if isClosed(closing) || !pongs { // an answer to our close: it read everything first
						confirm(wrote.Load())
					}
				} else if isClosed(closing) {
					log.Warn().Err(err).Dur("grace", closeGrace).Msg("no close frame from the peer")
				}
				if errors.Is(err, websocket.ErrReadLimit) {
					rf.err = fmt.Errorf("read: frame larger than read_limit %d bytes", cfg.ReadLimit)
				}
				root.Send(self, rf)
				return
			}
			if !pongs {
				confirm(wrote.Load())
			}
			if isClosed(closing) {
				discarded++
				continue
			}
			select {
			case since := <-subscribed: // ahead of every frame the upstream sent after it
				handOn() // what was read before goes first
				root.Send(router, &messages.Subscribed{Gen: gen, Cursor: since})
			default:
			}
			// Into the batch's buffer only now, after the last hand-on that must not take it
			// along: the buffer goes with the batch it is handed on with, and comes back cleared.
			if cap(arena)-len(arena) < len(data) {
				handOn() // the batch's buffer is full: the batch goes on as it is
				if cap(arena)-len(arena) < len(data) {
					// A frame larger than a pooled buffer, or a buffer full of frames that were
					// not routed (pongs, replies): a buffer of its own.
					arena = make([]byte, 0, max(readBatchBytes, len(data)))
				}
			}
			start := len(arena)
			arena = append(arena, data...)
			data = arena[start:len(arena):len(arena)] // capped: nothing appends into its neighbours
			fr := messages.FrameReceived{Gen: gen, Data: data, Via: messages.ViaWebSocket}
			if kind == websocket.BinaryMessage {
				fr.Invalid = messages.InvalidBinary
			} else {
				in := dec.Decode(data)
				if in.Reply != nil {
					root.Send(self, &reply{gen: gen, data: in.Reply})
				}
				switch in.Kind {
				case framing.Event:
				case framing.Pong:
					root.Send(heartbeat, &messages.PongReceived{Gen: gen})
					continue
				case framing.AuthOK:
					root.Send(self, &authAnswer{gen: gen, ok: true})
					continue
				case framing.AuthFailed:
					root.Send(self, &authAnswer{gen: gen, ok: false, err: in.Err})
					continue
				case framing.Open:
					root.Send(self, &engineOpen{gen: gen, interval: in.PingInterval, timeout: in.PingTimeout})
					continue
				case framing.Ended:
					root.Send(self, &sessionEnded{gen: gen, kind: in.Fail, err: in.Err})
					continue
				default: // protocol traffic with nothing to route
					if in.Err != nil {
						root.Send(self, &protocolNote{gen: gen, err: in.Err})
					}
					continue
				}
				fr.Type, fr.Cursor, fr.Invalid, fr.Data, fr.Ack = in.Frame.Type, in.Frame.Cursor, in.Frame.Invalid, in.Data, in.Ack
			}
			// One clock read per batch (see messages.FramesReceived), taken with the batch's
			// first routed frame: a control frame before it (a pong, a reply) must not lend
			// the event an earlier time.
			if len(batch) == 0 {
				at = clock.Now()
			}
			fr.At = at
			batch = append(batch, fr)
			size += int64(len(fr.Data))
			if len(batch) >= readBatchMax || len(arena) >= readBatchBytes {
				handOn()
			} else if !hooked {
				handOn() // no hook to say when the reader waits: hand each frame on at once
			}
		}
	}()
}

// Bounds on one messages.FramesReceived.
const (
	readBatchMax   = 128      // frames
	readBatchBytes = 64 << 10 // bytes of frame data
)

// bufferChunk is the size of the buffers the router builds envelopes in, each shared by the
// envelopes that fit: the largest size the Go allocator serves from its per-size caches, so
// no allocation takes the large-object path.
const (
	bufferChunk = 32 << 10
)

// readHook is the socket under a websocket.Conn. Before every read from the socket, which
// may block, it calls before: the reader hands on the frames it has collected rather than
// hold them while it waits. So a batch is what one read brought in, and never waits for more.
type readHook struct {
	net.Conn
	before func() // set before the reader starts, called only by it; nil during the handshake
}

func (h *readHook) Read(p []byte) (int, error) {
	if h.before != nil {
		h.before()
	}
	return h.Conn.Read(p)
}

// hookOf finds the readHook under sock (beneath TLS, when there is TLS); nil when there is
// none.
func hookOf(sock *websocket.Conn) *readHook {
	nc := sock.UnderlyingConn()
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	h, _ := nc.(*readHook)
	return h
}

// startWriter runs the only writer of the socket; every write has a deadline. After each
// outbound message it publishes the id in wrote, and it probes (a control ping carrying the
// last id) every probeEvery messages and whenever it runs out of work, so the pong confirms
// them even when the peer sends nothing else.
func (c *Connection) startWriter(ctx actor.Context, wrote *atomic.Uint64) {
	sock, gen, out, done := c.sock, c.gen, make(chan outFrame, 64), make(chan struct{})
	self, root, timeout, log := ctx.Self(), ctx.ActorSystem().Root, c.cfg.WriteTimeout.Duration, c.log
	c.out, c.writerDone = out, done
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				root.Send(self, &writeFailed{gen: gen, err: goroutinePanic(log, "writer", p)})
				for range out { // drain until teardown closes it, so the actor never blocks on a dead writer
				}
			}
		}()
		failed := false
		unprobed := 0 // outbound messages written since the last probe
		for f := range out {
			if failed {
				continue // drain so the actor never blocks on a dead writer
			}
			var err error
			switch f.kind {
			case websocket.TextMessage:
				_ = sock.SetWriteDeadline(wallDeadline(timeout))
				err = sock.WriteMessage(websocket.TextMessage, f.data)
			default:
				err = sock.WriteControl(f.kind, f.data, wallDeadline(timeout))
			}
			if f.kind == websocket.CloseMessage {
				continue // teardown reports nothing
			}
			if err == nil && f.id > 0 {
				wrote.Store(f.id)
				unprobed++
				if unprobed >= probeEvery || len(out) == 0 {
					unprobed = 0
					err = sock.WriteControl(websocket.PingMessage, probe(f.id), wallDeadline(timeout))
				}
			}
			if err != nil {
				failed = true
				root.Send(self, &writeFailed{gen: gen, err: fmt.Errorf("write: %w", err)})
			}
		}
	}()
}

// goroutinePanic turns a panic in a goroutine Connection owns (dial, reader, writer) into the
// error it reports, and logs it at Error with the stack of the crash site: a panic that
// escaped would end the process. Each of them defers the same recover around it.
func goroutinePanic(log zerolog.Logger, goroutine string, p any) error {
	log.Error().Str("goroutine", goroutine).Interface("panic", p).Str("stack", string(debug.Stack())).Msg("goroutine panicked")
	return fmt.Errorf("%s panic: %v", goroutine, p)
}

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// probe is the payload of a confirmation ping for outbound message id.
func probe(id uint64) []byte {
	return strconv.AppendUint([]byte(probePrefix), id, 10)
}

// parseProbe reads a pong's payload; ok is false for any pong but a probe's.
func parseProbe(data string) (uint64, bool) {
	s, ok := strings.CutPrefix(data, probePrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil
}

// teardown closes the socket and waits for the goroutines. graceful performs the close
// handshake (RFC 6455 §7.1.1): the writer sends a close frame after what it holds, and the
// reader reads on until the peer's close frame, for at most closeGrace, before the socket
// closes; closing it with unread input would make the kernel reset the connection, and the
// peer would lose what it had not read yet, the close frame included.
func (c *Connection) teardown(graceful bool) {
	if c.cancelDial != nil {
		c.cancelDial()
	}
	stop(&c.authTimer)
	if c.sock == nil {
		return
	}
	if graceful {
		close(c.closing)
		c.out <- outFrame{kind: websocket.CloseMessage,
			data: websocket.FormatCloseMessage(websocket.CloseNormalClosure, "holdfast stopping")}
	}
	close(c.out)
	<-c.writerDone
	if graceful { // a deadline, not a timer: like a write deadline, the kernel enforces it
		_ = c.sock.SetReadDeadline(wallDeadline(closeGrace))
		<-c.readerDone
	}
	_ = c.sock.Close()
	<-c.readerDone
	c.sock = nil
}

// maxScratch is the largest read buffer a reader keeps between frames; one oversize frame
// (up to read_limit) does not pin its buffer for the life of the socket.
const maxScratch = 64 << 10

// readFrame reads the next data frame into buf, growing it only when a frame is larger than
// any before. It replaces websocket.ReadMessage, whose io.ReadAll starts small and regrows
// for every frame.
func readFrame(sock *websocket.Conn, buf []byte) (int, []byte, error) {
	kind, r, err := sock.NextReader()
	if err != nil {
		return 0, buf, err
	}
	buf, err = ReadAppend(r, buf)
	return kind, buf, err
}

// ReadAppend appends everything r has to buf and returns it, growing buf only when what r
// holds does not fit (unlike io.ReadAll, which starts small every time). It is the reader's
// inner loop, exported for the micro benchmark in bench/.
func ReadAppend(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// wallDeadline is a socket deadline. The kernel enforces it in real time, so it is the one
// place that reads the wall clock instead of Env.Clock.
func wallDeadline(d time.Duration) time.Time { return time.Now().Add(d) }
