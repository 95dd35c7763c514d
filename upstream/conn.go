package upstream

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

const (
	pongFrame        = `{"type":"pong"}`
	authSuccessFrame = `{"type":"auth_success"}`
)

// frame is one write for a connection's writer. A zero typ is a close frame with code.
type frame struct {
	typ  int
	data []byte
	pad  int // "pad" value length to insert into the JSON object data (see writePadded)
	code int
}

// conn is one upgraded socket. The HTTP handler's goroutine is its only reader, writeLoop
// its only writer of data frames; control frames go through WriteControl, which gorilla
// allows concurrently.
type conn struct {
	s    *Server
	ws   *websocket.Conn
	sock *coalescer // under ws: collects frames while more are queued
	log  zerolog.Logger
	out  chan frame    // to the writer; full = publishers wait (TCP backpressure)
	done chan struct{} // closed by teardown
	once sync.Once

	// Guarded by s.mu.
	frozen     bool
	authed     bool
	subscribed bool
	closing    bool // a close frame is queued or sent: client frames are ignored
	authTimer  *time.Timer

	// Owned by the reader (the handler's goroutine).
	clientClose int // the code of the client's close frame; 0 until one arrives
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closing", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1) // Close waits for this handler, which becomes the connection's reader
	refuse, retryAfter, token, drop := s.refuseStatus, s.retryAfter, s.token, s.acceptThenDrop
	s.mu.Unlock()
	defer s.wg.Done()

	if refuse != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, http.StatusText(refuse), refuse)
		return
	}
	authed := token == ""
	if tok, ok := credential(r); ok {
		s.set(func() { s.authAttempts++ })
		if !tokenOK(tok, token) {
			unauthorized(w)
			return
		}
		authed = true
	}
	var hdr http.Header
	if protos := websocket.Subprotocols(r); len(protos) > 0 {
		hdr = http.Header{"Sec-Websocket-Protocol": {protos[0]}}
	}
	s.set(func() { s.handshakes++ }) // before the 101 goes out, so a dialer that got it sees the count
	hj := &hijacker{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(hj, r, hdr)
	if err != nil {
		s.set(func() { s.handshakes-- })
		s.log.Debug().Err(err).Msg("upgrade") // Upgrade has answered the client
		return
	}
	if drop {
		_ = ws.NetConn().Close()
		return
	}

	c := &conn{
		s:    s,
		ws:   ws,
		sock: hj.sock,
		log:  s.log.With().Str("remote", r.RemoteAddr).Logger(),
		out:  make(chan frame, sendBuffer),
		done: make(chan struct{}),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.NetConn().Close()
		return
	}
	c.authed = authed
	if !authed {
		c.authTimer = time.AfterFunc(s.opts.AuthTimeout, c.authExpired)
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.notifyLocked()
	s.mu.Unlock()

	c.log.Debug().Msg("connection open")
	go c.writeLoop()
	c.readLoop()
}

// readLoop reads until the socket fails, holding still while the connection is frozen. When
// it ends, it records how the client closed (see ClientCloses).
func (c *conn) readLoop() {
	defer c.teardown()
	var readErr error
	defer func() {
		code := c.clientClose
		if code == 0 {
			code = websocket.CloseAbnormalClosure
		}
		s := c.s
		s.set(func() { s.clientCloses = append(s.clientCloses, ClientClose{Code: code, Err: errString(readErr)}) })
	}()
	c.ws.SetReadLimit(readLimit)
	c.ws.SetPingHandler(c.onPing)
	c.ws.SetCloseHandler(c.onClose)
	for {
		if !c.waitThawed() {
			return
		}
		typ, data, err := c.ws.ReadMessage()
		if !c.waitThawed() { // what arrived while frozen waits, unanswered
			return
		}
		if err != nil {
			c.log.Debug().Err(err).Msg("read")
			readErr = err
			return
		}
		if c.isClosing() {
			continue
		}
		c.handle(typ, data)
	}
}

// waitThawed blocks while the connection is frozen; false means it is torn down.
func (c *conn) waitThawed() bool {
	s := c.s
	for {
		s.mu.Lock()
		if !c.frozen || c.closing {
			s.mu.Unlock()
			select {
			case <-c.done:
				return false
			default:
				return true
			}
		}
		s.watched = true
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
			return false
		}
	}
}

func (c *conn) handle(typ int, data []byte) {
	s := c.s
	var msg map[string]any
	isObj := typ == websocket.TextMessage && json.Unmarshal(data, &msg) == nil && msg != nil
	kind, _ := msg["type"].(string)

	s.mu.Lock()
	s.receivedRaw = append(s.receivedRaw, data)
	if isObj {
		s.received = append(s.received, msg)
	}
	authed := c.authed
	if isObj && authed && kind != "subscribe" && kind != "ping" && kind != "auth" {
		s.outbound = append(s.outbound, msg)
	}
	s.notifyLocked()
	s.mu.Unlock()

	if !isObj {
		c.log.Debug().Int("bytes", len(data)).Msg("frame is not a JSON object")
		return
	}
	switch kind {
	case "ping": // answered before auth too: a heartbeat may race the auth reply
		if c.answersPings() {
			c.send(frame{typ: websocket.TextMessage, data: []byte(pongFrame)})
		}
	case "auth":
		c.auth(msg)
	default:
		if !authed {
			c.reject("not authenticated")
			return
		}
		if kind == "subscribe" {
			c.subscribe(msg)
		}
	}
}

func (c *conn) auth(msg map[string]any) {
	tok, _ := msg["token"].(string)
	s := c.s
	s.mu.Lock()
	s.authAttempts++
	ok := tokenOK(tok, s.token)
	if ok {
		c.authed = true
		if c.authTimer != nil {
			c.authTimer.Stop()
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	if !ok {
		c.reject("invalid token")
		return
	}
	c.send(frame{typ: websocket.TextMessage, data: []byte(authSuccessFrame)})
}

// reject answers auth_failed, then closes with 1008 once the writer has sent it.
func (c *conn) reject(reason string) {
	c.log.Info().Str("reason", reason).Msg("auth refused")
	c.s.set(func() { c.closing = true })
	msg, _ := json.Marshal(map[string]string{"type": "auth_failed", "reason": reason})
	if c.send(frame{typ: websocket.TextMessage, data: msg}) {
		c.send(frame{code: websocket.ClosePolicyViolation, data: []byte(reason)})
	}
}

func (c *conn) authExpired() {
	s := c.s
	s.mu.Lock()
	if s.closed || c.authed || c.closing {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1) // after the closed check, so Close's Wait cannot miss it
	s.mu.Unlock()
	defer s.wg.Done()
	c.log.Info().Msg("auth timeout")
	c.closeWith(websocket.ClosePolicyViolation, "auth timeout")
}

// subscribe adds c to the publishers' targets and, when msg has a since, queues every
// stored event after it first. Holding pubMu makes replay and live events one gapless
// sequence. msg is recorded in the same step, so a test that sees it in Subscriptions
// knows that later publishes reach c.
func (c *conn) subscribe(msg map[string]any) {
	s := c.s
	since, replay := cursor(msg["since"])
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	select {
	case <-c.done:
		s.mu.Unlock()
		return
	default:
	}
	s.subscriptions = append(s.subscriptions, msg)
	if !c.subscribed {
		c.subscribed = true
		s.subs = append(slices.Clip(s.subs), c) // a new array: publishers read the old one unlocked
	}
	var evs []event
	if replay {
		evs = s.historyAfter(since)
		if len(evs) > 0 && evs[0].seq > since+1 {
			c.log.Warn().Uint64("since", since).Uint64("oldest", evs[0].seq).Msg("replay gap: history trimmed")
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, e := range evs {
		if !c.enqueue(context.Background(), frame{typ: websocket.TextMessage, data: e.data, pad: e.pad}) {
			return
		}
	}
}

// send queues a reply, waiting while the writer is behind.
func (c *conn) send(f frame) bool { return c.enqueue(context.Background(), f) }

// enqueue hands f to the writer, blocking while its channel is full. When ctx ends first,
// the connection is dropped rather than left with a gap.
func (c *conn) enqueue(ctx context.Context, f frame) bool {
	select {
	case c.out <- f:
		return true
	default:
	}
	select {
	case c.out <- f:
		return true
	case <-c.done:
		return false
	case <-ctx.Done():
		c.log.Warn().Msg("dropping a connection that blocks a canceled publisher")
		c.teardown()
		return false
	}
}

// writeLoop writes queued frames in order, telling the coalescer whether another frame is
// already queued, and flushes what it collected before it waits. While frozen it keeps
// taking frames into a backlog so that publishers are not held up by a connection that went
// half-open.
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	var backlog []frame
	for {
		var wake <-chan struct{}
		if len(backlog) > 0 {
			held, ch := c.held()
			if !held {
				f := backlog[0]
				backlog = backlog[1:]
				if !c.write(f, len(backlog) > 0 || len(c.out) > 0) {
					return
				}
				continue
			}
			wake = ch
		}
		var f frame
		select {
		case f = <-c.out: // already queued: what is collected can wait for it
		default:
			if err := c.sock.flush(); err != nil {
				c.log.Debug().Err(err).Msg("write")
				c.teardown()
				return
			}
			select {
			case f = <-c.out:
			case <-wake:
				continue
			case <-c.done:
				return
			}
		}
		if held, _ := c.held(); held || len(backlog) > 0 {
			backlog = append(backlog, f)
			continue
		}
		if !c.write(f, len(c.out) > 0) {
			return
		}
	}
}

// held reports whether writes wait (frozen) and, if so, a channel closed at the next change.
func (c *conn) held() (bool, <-chan struct{}) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.frozen || c.closing {
		return false, nil
	}
	s.watched = true
	return true, s.changed
}

// write writes f; more says another frame is queued behind it, so the coalescer may hold f.
func (c *conn) write(f frame, more bool) bool {
	if f.typ == 0 {
		c.closeWith(f.code, string(f.data))
		return true
	}
	c.sock.more.Store(more)
	err := c.writeData(f)
	c.sock.more.Store(false)
	switch {
	case err == nil:
		return true
	case errors.Is(err, websocket.ErrCloseSent):
		return true // closing: drop until the reader sees the echo
	default:
		c.log.Debug().Err(err).Msg("write")
		c.teardown()
		return false
	}
}

// writeData has no deadline on purpose: a slow reader must hold publishers back (TCP
// backpressure). Close and DropConnections unblock it by closing the socket.
func (c *conn) writeData(f frame) error {
	if f.pad == 0 {
		return c.ws.WriteMessage(f.typ, f.data)
	}
	w, err := c.ws.NextWriter(f.typ)
	if err != nil {
		return err
	}
	if err := writePadded(w, f.data, f.pad); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// closeWith sends a close frame, then lets the reader wait for the client's echo: closing
// TCP with unread input sends RST, which can destroy the close frame before it is read.
func (c *conn) closeWith(code int, reason string) {
	c.s.set(func() { c.closing = true })
	msg := websocket.FormatCloseMessage(code, reason)
	err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(controlWait))
	if errors.Is(err, websocket.ErrCloseSent) {
		return
	}
	if err != nil {
		c.teardown()
		return
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(closeLinger))
}

func (c *conn) onPing(data string) error {
	if c.answersPings() {
		_ = c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(controlWait))
	}
	return nil // a failed pong shows up as a failed read or write
}

func (c *conn) onClose(code int, _ string) error {
	c.clientClose = code
	if held, _ := c.held(); !held {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(controlWait))
	}
	return nil
}

func (c *conn) answersPings() bool {
	return get(c.s, func() bool { return c.s.answerPings && !c.frozen })
}

func (c *conn) isClosing() bool { return get(c.s, func() bool { return c.closing }) }

// teardown closes the socket without a close frame and forgets the connection. Idempotent.
func (c *conn) teardown() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.NetConn().Close()
		s := c.s
		s.set(func() {
			delete(s.conns, c)
			if c.subscribed {
				s.subs = slices.DeleteFunc(slices.Clone(s.subs), func(x *conn) bool { return x == c })
			}
			if c.authTimer != nil {
				c.authTimer.Stop()
			}
		})
		c.log.Debug().Msg("connection closed")
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// cursor reads a subscribe's since: a JSON number or a numeric string.
func cursor(v any) (uint64, bool) {
	switch v := v.(type) {
	case float64:
		if v >= 0 {
			return uint64(v), true
		}
	case string:
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

// tokenOK compares in constant time; an empty want accepts anything.
func tokenOK(got, want string) bool {
	return want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
