// Package upstream is the event feed that `daemon demo` runs and that end-to-end tests and
// benchmarks talk to: a real gorilla/websocket + net/http server, scriptable by hooks.
//
// Protocol: JSON text frames, each an object with a string "type".
//   - client→server: {"type":"subscribe","channel":"processing","since":N} (since optional,
//     a number or a numeric string), {"type":"ping"}, {"type":"auth","token":"…"}; any
//     other object is an outbound message, recorded in arrival order (see Outbound).
//   - server→client: {"type":"pong"}, {"type":"auth_success"},
//     {"type":"auth_failed","reason":"…"}, and events processing_progress,
//     processing_complete and processing_error, each with "seq" (one increasing integer per
//     server, starting at 1, over all event types) and "sent_at" (unix nanoseconds).
//
// A subscribe with since first replays every stored event with seq > since, then live
// events, with no gap and no duplicate in between; without since, only live events. A
// repeated subscribe replays again.
//
// Auth (when Options.Token is set): a token in "Authorization: Bearer …" or ?token= on the
// upgrade (wrong: HTTP 401), or an auth message (wrong: auth_failed, then close 1008; none
// within AuthTimeout: close 1008). Anything but ping and auth before that is refused the
// same way.
//
// Writes: the frames queued for a connection go out coalesced, in writes of up to 64 KiB (as
// a busy server's would), and a frame with nothing queued behind it is written at once, so a
// feed that keeps up keeps its latency.
//
// HTTP: GET /ws upgrades, GET /poll?since=N returns history, POST /send records an
// outbound message; both take the same tokens. The package is its own clock: it uses real time (timers for the auth
// timeout, chaos and Generate's pacing) because it stands for the outside world.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// Defaults for Options.
const (
	DefaultAuthTimeout = 5 * time.Second
	DefaultHistory     = 100000
)

const (
	controlWait  = time.Second // deadline for control frames (pong, close)
	closeLinger  = time.Second // wait for the client's close echo before closing TCP
	maxPollBatch = 500         // events per /poll response
	readLimit    = 1 << 20     // largest client frame accepted
	sendBuffer   = 1024        // frames queued per connection before publishers block
)

// ErrStarted is returned by Start when the server already listens (or was closed).
var ErrStarted = errors.New("upstream: already started")

// Options configures a Server. The zero value is a server without auth, natural event
// sizes and a silent logger.
type Options struct {
	Token       string        // "" = no auth; else a message, "Authorization: Bearer", or ?token=
	AuthTimeout time.Duration // close with 1008 if no auth message within it. Default: 5s.
	EventSize   int           // pad events with a "pad" field to this many bytes; 0 = natural size
	History     int           // events kept for replay and /poll. Default: 100000.
	Chaos       bool          // drop every connection at random every 3–8 s (demo)
	Seed        uint64        // seeds chaos and Generate; 0 = random
	Log         zerolog.Logger
}

// Server is the scriptable upstream. Its methods are safe for concurrent use. Each
// connection has one reader goroutine (the HTTP handler's) and one writer goroutine fed by
// a bounded channel; Close stops them all.
type Server struct {
	opts     Options
	log      zerolog.Logger
	seed     uint64
	upgrader websocket.Upgrader

	pubMu sync.Mutex // serializes publishers and subscribers: one send order for everyone
	wg    sync.WaitGroup

	mu      sync.Mutex
	ln      net.Listener
	hs      *http.Server
	done    chan struct{} // closed by Close
	closed  bool
	changed chan struct{} // closed and replaced on every observable change (see WaitFor)
	watched bool          // someone holds changed; skip replacing it otherwise

	conns   map[*conn]struct{}
	subs    []*conn // subscribed conns; replaced, never modified, so publishers read it unlocked
	seq     uint64
	history []event
	jobs    int // job ids handed out by Generate
	gens    int // Generate calls; each draws from its own random stream

	token          string
	answerPings    bool
	refuseStatus   int
	retryAfter     string
	acceptThenDrop bool
	pollStatus     int
	pollBody       []byte
	sendStatus     int

	handshakes    int
	polls         int
	sends         int
	authAttempts  int
	received      []map[string]any
	receivedRaw   [][]byte
	outbound      []map[string]any
	subscriptions []map[string]any
	clientCloses  []ClientClose
}

// ClientClose is how one connection ended, seen from the server.
type ClientClose struct {
	Code int    // the client's close code; 1006 (abnormal closure) when it sent none
	Err  string // the read error that ended the connection ("connection reset by peer", …)
}

// New returns a server that is not listening yet; call Start.
func New(opts Options) *Server {
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = DefaultAuthTimeout
	}
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Server{
		opts: opts,
		log:  opts.Log.With().Str("component", "upstream").Logger(),
		seed: seed,
		upgrader: websocket.Upgrader{
			CheckOrigin:       func(*http.Request) bool { return true }, // loopback test server
			EnableCompression: true,                                     // used only when the client offers it
		},
		done:        make(chan struct{}),
		changed:     make(chan struct{}),
		conns:       make(map[*conn]struct{}),
		token:       opts.Token,
		answerPings: true,
	}
}

// Start listens on addr ("127.0.0.1:0" in tests) and serves in the background.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil || s.closed {
		return ErrStarted
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.handleWS)
	mux.HandleFunc("/poll", s.handlePoll)
	mux.HandleFunc("/send", s.handleSend)
	s.ln, s.hs = ln, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Msg("serve")
		}
	}()
	if s.opts.Chaos {
		s.wg.Add(1)
		go s.chaos()
	}
	s.log.Info().Str("addr", ln.Addr().String()).Msg("upstream listening")
	return nil
}

// Addr is the host:port the server listens on ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the WebSocket endpoint, ws://host:port/ws.
func (s *Server) URL() string { return "ws://" + s.Addr() + "/ws" }

// PollURL is the polling endpoint, http://host:port/poll.
func (s *Server) PollURL() string { return "http://" + s.Addr() + "/poll" }

// SendURL is the outbound endpoint, http://host:port/send.
func (s *Server) SendURL() string { return "http://" + s.Addr() + "/send" }

// Close stops the listener and every connection, and waits for the server's goroutines.
// A Publish blocked on a slow reader returns. Calling Close again returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	hs, conns := s.hs, s.connList()
	s.mu.Unlock()
	for _, c := range conns {
		c.teardown()
	}
	var err error
	if hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err = hs.Shutdown(ctx); err != nil {
			err = hs.Close()
		}
	}
	s.wg.Wait()
	s.log.Info().Msg("upstream closed")
	if err != nil {
		return fmt.Errorf("close upstream: %w", err)
	}
	return nil
}

// chaos drops every connection every 3–8 s until Close.
func (s *Server) chaos() {
	defer s.wg.Done()
	rnd := rand.New(rand.NewPCG(s.seed, 0x636861))
	for {
		t := time.NewTimer(3*time.Second + time.Duration(rnd.Int64N(int64(5*time.Second))))
		select {
		case <-s.done:
			t.Stop()
			return
		case <-t.C:
			s.log.Info().Int("conns", s.Conns()).Msg("chaos: dropping connections")
			s.DropConnections()
		}
	}
}

// connList copies the open connections. Callers hold s.mu.
func (s *Server) connList() []*conn {
	l := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		l = append(l, c)
	}
	return l
}

// notifyLocked wakes WaitFor callers. Callers hold s.mu.
func (s *Server) notifyLocked() {
	if s.watched {
		close(s.changed)
		s.changed, s.watched = make(chan struct{}), false
	}
}

// watch returns a channel closed at the next observable change.
func (s *Server) watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watched = true
	return s.changed
}

// WaitFor returns nil once cond is true, or ctx's error. cond runs without any lock held and
// is re-evaluated after every change the server can see (connections, frames, polls,
// publishes, hooks), so it may call any Server method.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		ch := s.watch()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for upstream: %w", ctx.Err())
		}
	}
}

// set runs f under the lock and wakes WaitFor callers.
func (s *Server) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	s.notifyLocked()
}

// DropConnections closes every connection's TCP socket at once, without a close frame.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := s.connList()
	s.mu.Unlock()
	for _, c := range conns {
		c.teardown()
	}
}

// CloseConnections sends a close frame with code and reason (e.g. 1013, "try again later")
// to every connection, frozen ones included, and closes each once the client echoes it or
// after a second.
func (s *Server) CloseConnections(code int, reason string) {
	s.mu.Lock()
	conns := s.connList()
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(code, reason)
	}
}

// Freeze(true) makes every open connection half-open: the server stops reading and writing
// on it (no pongs, no control pongs, no close echo, events held back) without closing it.
// Connections accepted later are not frozen. Freeze(false) resumes them all; the events
// held back are then written in order.
func (s *Server) Freeze(on bool) {
	s.set(func() {
		for c := range s.conns {
			c.frozen = on
		}
	})
}

// AnswerPings(false) ignores app pings and control pings on every connection, now and
// later, while events still flow. Default: true.
func (s *Server) AnswerPings(on bool) { s.set(func() { s.answerPings = on }) }

// RefuseUpgrades answers every upgrade with status (e.g. 503) and, when retryAfter is not
// "", a Retry-After header. Status 0 accepts again.
func (s *Server) RefuseUpgrades(status int, retryAfter string) {
	s.set(func() { s.refuseStatus, s.retryAfter = status, retryAfter })
}

// AcceptThenDrop(true) completes each upgrade and then closes the TCP socket at once, as a
// middlebox killing the tunnel would. Such upgrades count in Handshakes.
func (s *Server) AcceptThenDrop(on bool) { s.set(func() { s.acceptThenDrop = on }) }

// SetToken rotates the accepted token ("" = no auth) for new auth attempts; connections
// already authenticated stay so.
func (s *Server) SetToken(tok string) { s.set(func() { s.token = tok }) }

// PollStatus forces every /poll response to status (e.g. 503, 401) after auth; 0 = normal.
func (s *Server) PollStatus(code int) { s.set(func() { s.pollStatus = code }) }

// PollBody forces every /poll response body to raw (status 200, or PollStatus when set);
// nil = normal.
func (s *Server) PollBody(raw []byte) {
	var body []byte
	if raw != nil {
		body = append([]byte{}, raw...) // an empty, non-nil raw forces an empty body
	}
	s.set(func() { s.pollBody = body })
}

// SendStatus forces every /send response to status (e.g. 503) without recording the body;
// 0 = normal (202).
func (s *Server) SendStatus(code int) { s.set(func() { s.sendStatus = code }) }

// Handshakes counts successful upgrades; it includes an upgrade as soon as the client
// could have seen its 101 response.
func (s *Server) Handshakes() int { return get(s, func() int { return s.handshakes }) }

// Conns counts open connections. A connection counts a moment after the client's dial
// returns, so wait for it (Await, WaitFor) rather than reading it once.
func (s *Server) Conns() int { return get(s, func() int { return len(s.conns) }) }

// Subscribed counts open connections that have subscribed.
func (s *Server) Subscribed() int { return get(s, func() int { return len(s.subs) }) }

// Polls counts /poll requests, refused ones included.
func (s *Server) Polls() int { return get(s, func() int { return s.polls }) }

// Sends counts /send requests, refused ones included.
func (s *Server) Sends() int { return get(s, func() int { return s.sends }) }

// AuthAttempts counts auth messages, tokens presented in a header or query (on /ws, /poll
// and /send), and HTTP requests refused with 401 for lacking one.
func (s *Server) AuthAttempts() int { return get(s, func() int { return s.authAttempts }) }

// LastSeq is the seq of the latest published event (0 before any).
func (s *Server) LastSeq() uint64 { return get(s, func() uint64 { return s.seq }) }

// Received returns every client text frame that parsed as a JSON object, protocol
// messages included, in arrival order. The maps are shared: do not modify them.
func (s *Server) Received() []map[string]any {
	return get(s, func() []map[string]any { return append([]map[string]any(nil), s.received...) })
}

// ReceivedRaw returns every client data frame (text or binary, JSON or not) as received.
func (s *Server) ReceivedRaw() [][]byte {
	return get(s, func() [][]byte { return append([][]byte(nil), s.receivedRaw...) })
}

// Outbound returns the client messages that are not protocol (subscribe, ping, auth), from
// the socket and from /send, in arrival order. The maps are shared: do not modify them.
func (s *Server) Outbound() []map[string]any {
	return get(s, func() []map[string]any { return append([]map[string]any(nil), s.outbound...) })
}

// OutboundLen is len(Outbound()) without the copy.
func (s *Server) OutboundLen() int { return get(s, func() int { return len(s.outbound) }) }

// ClientCloses returns how each finished connection ended, in the order they ended: the
// client's close code (1006 when a reset, a drop or Close ended it without one).
func (s *Server) ClientCloses() []ClientClose {
	return get(s, func() []ClientClose { return append([]ClientClose(nil), s.clientCloses...) })
}

// Subscriptions returns the subscribe messages in arrival order.
func (s *Server) Subscriptions() []map[string]any {
	return get(s, func() []map[string]any { return append([]map[string]any(nil), s.subscriptions...) })
}

func get[T any](s *Server, f func() T) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return f()
}
