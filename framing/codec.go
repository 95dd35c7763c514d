package framing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/wire"
)

// Protocols.
const (
	JSON     = "json"
	GraphQL  = "graphql-transport-ws"
	SocketIO = "socket.io"
)

// Kind says what an inbound frame is.
type Kind uint8

const (
	Event      Kind = iota // route Frame/Data
	Pong                   // a heartbeat answer (Reply may still carry an answer to write)
	Control                // protocol traffic with nothing to route: only Reply, if any
	AuthOK                 // auth_success, connection_ack, namespace connect
	AuthFailed             // auth_failed, socket.io connect_error
	Open                   // Engine.IO open: PingInterval and PingTimeout
	Ended                  // the server ended the session or a subscription: fail with Fail, Err
)

// Inbound is what one frame means.
type Inbound struct {
	Kind  Kind
	Frame wire.Frame // for Event
	Data  []byte     // bytes to route for Event
	Reply []byte     // written at once (answers to the server's pings)
	Ack   []byte     // written once every sink took the event; nil when none is due
	Err   error      // for AuthFailed and Ended
	Fail  messages.FailureKind

	PingInterval, PingTimeout time.Duration // for Open
}

// Codec turns a stream's configuration into the frames its protocol sends. It is built once
// per connection incarnation and read-only after New; Decoder makes the reader's own state.
type Codec struct {
	cfg     config.StreamConfig
	proto   string
	ping    []byte
	answers []answer
	ack     *Template
	ops     map[string]string // graphql: operation id → routed type
	ns      string            // socket.io namespace prefix: "" for "/", else "/chat,"
}

type answer struct {
	typ, text string
	reply     *Template
}

// New builds the codec of sc, which Validate accepted.
func New(sc config.StreamConfig) (*Codec, error) {
	c := &Codec{cfg: sc, proto: sc.Protocol, ops: map[string]string{}}
	if c.proto == "" {
		c.proto = JSON
	}
	if _, err := newFramer(sc); err != nil {
		return nil, err
	}
	hb := sc.Heartbeat
	switch {
	case hb.PingMessage != "":
		t, err := ParseTemplate(hb.PingMessage)
		if err != nil {
			return nil, fmt.Errorf("heartbeat.ping_message: %w", err)
		}
		c.ping, _ = t.Fill(nil, "")
	default:
		c.ping, _ = json.Marshal(map[string]string{"type": hb.PingType})
	}
	for i, a := range sc.Answers {
		t, err := ParseTemplate(a.Reply)
		if err != nil {
			return nil, fmt.Errorf("answer[%d].reply: %w", i, err)
		}
		c.answers = append(c.answers, answer{typ: a.Type, text: a.Text, reply: t})
	}
	if sc.Ack.Message != "" {
		t, err := ParseTemplate(sc.Ack.Message)
		if err != nil {
			return nil, fmt.Errorf("ack.message: %w", err)
		}
		c.ack = t
	}
	for i, s := range sc.Subscribe {
		c.ops[opID(s, i)] = opType(s, i)
	}
	if ns := sc.SocketIO.Namespace; ns != "" && ns != "/" {
		c.ns = ns + ","
	}
	return c, nil
}

// opID is a GraphQL operation's id: its own, else its name, else its position from 1.
func opID(s config.SubscribeConfig, i int) string {
	switch {
	case s.ID != "":
		return s.ID
	case s.OperationName != "":
		return s.OperationName
	}
	return strconv.Itoa(i + 1)
}

// opType is the type a GraphQL operation's events are routed as: its name, else its id.
func opType(s config.SubscribeConfig, i int) string {
	if s.OperationName != "" {
		return s.OperationName
	}
	return opID(s, i)
}

// Protocol is the protocol's name.
func (c *Codec) Protocol() string { return c.proto }

// Acks reports whether events may carry an Ack, so their sinks' progress must be tracked.
func (c *Codec) Acks() bool { return c.ack != nil || c.proto == SocketIO }

// Hello is what is sent as soon as the socket is open, and whether nothing else may go out
// before AuthOK (or, for socket.io, before Open then AuthOK). token is "" without one.
func (c *Codec) Hello(token string) ([]byte, bool) {
	a := c.cfg.Auth
	switch c.proto {
	case GraphQL:
		payload := map[string]any{}
		if p, ok := FillTable(c.cfg.GraphQL.InitPayload, "").(map[string]any); ok && c.cfg.GraphQL.InitPayload != nil {
			payload = p
		}
		if token != "" {
			payload[a.TokenField] = token
		}
		msg, _ := json.Marshal(map[string]any{"type": "connection_init", "payload": payload})
		return msg, true
	case SocketIO:
		return nil, true // the server speaks first (open), then Connect
	}
	if a.Mode != config.AuthMessage {
		return nil, false
	}
	msg, _ := json.Marshal(map[string]string{"type": a.MessageType, a.TokenField: token})
	return msg, true
}

// Connect is socket.io's namespace connect, sent after Open, with the auth payload (the token
// under auth.token_field, "${cursor}" values filled with the resume cursor).
func (c *Codec) Connect(token, cursor string) []byte {
	auth := map[string]any{}
	if c.cfg.SocketIO.Auth != nil {
		auth = FillTable(c.cfg.SocketIO.Auth, cursor).(map[string]any)
	}
	if token != "" {
		auth[c.cfg.Auth.TokenField] = token
	}
	b, _ := json.Marshal(auth)
	return append([]byte("40"+c.ns), b...)
}

// Subscriptions renders the configured subscriptions with the resume cursor ("" = none).
func (c *Codec) Subscriptions(cursor string) ([][]byte, error) {
	out := make([][]byte, 0, len(c.cfg.Subscribe))
	for i, s := range c.cfg.Subscribe {
		var (
			data []byte
			err  error
		)
		switch c.proto {
		case GraphQL:
			payload := map[string]any{"query": s.Query}
			if s.OperationName != "" {
				payload["operationName"] = s.OperationName
			}
			if s.Variables != nil {
				payload["variables"] = FillTable(s.Variables, cursor)
			}
			data, err = json.Marshal(map[string]any{"id": opID(s, i), "type": "subscribe", "payload": payload})
		case SocketIO:
			args := []any{s.Event}
			if s.Message != nil {
				args = append(args, FillTable(s.Message, cursor))
			}
			data, err = json.Marshal(args)
			data = append([]byte("42"+c.ns), data...)
		default:
			data, err = c.jsonSubscription(s, cursor)
		}
		if err != nil {
			return nil, fmt.Errorf("encode subscribe[%d]: %w", i, err)
		}
		out = append(out, data)
	}
	return out, nil
}

// jsonSubscription is a subscribe message of the json protocol: a text template, or a table
// with "${cursor}" values, to which the cursor is added under subscribe_key as before.
func (c *Codec) jsonSubscription(s config.SubscribeConfig, cursor string) ([]byte, error) {
	if s.Text != "" {
		t, err := ParseTemplate(s.Text)
		if err != nil {
			return nil, err
		}
		b, _ := t.Fill(nil, cursor)
		return b, nil
	}
	m := FillTable(s.Message, cursor).(map[string]any)
	if key := c.cfg.Cursor.SubscribeKey; cursor != "" && key != "" && c.cfg.HasCursor() && !hasPlaceholder(s.Message) {
		m[key] = CursorValue(cursor)
	}
	return json.Marshal(m)
}

// CarriesCursor reports whether what the protocol sends on connect (the subscriptions, the
// socket.io auth payload) tells the upstream where to resume: only then is an event at or
// below that cursor not a replay. A stream without such a message (a feed that redelivers
// what was not acknowledged) asks for nothing.
func (c *Codec) CarriesCursor() bool {
	if !c.cfg.HasCursor() {
		return false
	}
	if c.proto == SocketIO && hasPlaceholder(c.cfg.SocketIO.Auth) {
		return true
	}
	for _, s := range c.cfg.Subscribe {
		switch {
		case hasPlaceholder(s.Message), hasPlaceholder(s.Variables), strings.Contains(s.Text, Placeholder):
			return true
		case c.proto == JSON && s.Text == "" && c.cfg.Cursor.SubscribeKey != "":
			return true
		}
	}
	return false
}

// hasPlaceholder reports whether a table template places the cursor itself.
func hasPlaceholder(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			if hasPlaceholder(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasPlaceholder(x) {
				return true
			}
		}
	case []map[string]any:
		for _, x := range v {
			if hasPlaceholder(x) {
				return true
			}
		}
	case string:
		return v == Placeholder
	}
	return false
}

// Ping is the heartbeat's text ping; nil when the protocol has the server ping (socket.io).
func (c *Codec) Ping() []byte {
	if c.proto == SocketIO {
		return nil
	}
	return c.ping
}

// Outbound wraps a queued message: socket.io emits it as an event (a JSON array is taken as
// [event, args…]), graphql-transport-ws runs it as an operation ({"query":…}), json sends it
// as it is.
func (c *Codec) Outbound(id uint64, data []byte) []byte {
	switch c.proto {
	case SocketIO:
		d := bytes.Trim(data, jsonSpace)
		if len(d) > 0 && d[0] == '[' {
			return append([]byte("42"+c.ns), d...)
		}
		name, _ := json.Marshal(c.cfg.SocketIO.EmitEvent)
		out := append([]byte("42"+c.ns+"["), name...)
		out = append(out, ',')
		out = append(out, d...)
		return append(out, ']')
	case GraphQL:
		out := append([]byte(`{"id":"out-`), strconv.FormatUint(id, 10)...)
		out = append(out, `","type":"subscribe","payload":`...)
		out = append(out, bytes.Trim(data, jsonSpace)...)
		return append(out, '}')
	}
	return data
}

// Decoder reads one socket's frames. It belongs to the reader goroutine.
type Decoder struct {
	c      *Codec
	framer framer
	auth   bool              // json protocol with auth mode "message"
	texts  bool              // some rule matches frames by their text
	names  map[string]string // socket.io event names, interned
}

// Decoder makes a reader's decoder.
func (c *Codec) Decoder() *Decoder {
	f, _ := newFramer(c.cfg) // checked in New
	d := &Decoder{c: c, framer: f, auth: c.proto == JSON && c.cfg.Auth.Mode == config.AuthMessage,
		texts: c.cfg.Heartbeat.PongMessage != ""}
	for _, a := range c.answers {
		d.texts = d.texts || a.text != ""
	}
	return d
}

// Decode reads one text frame. data is owned by the caller's message from here on.
func (d *Decoder) Decode(data []byte) Inbound {
	switch d.c.proto {
	case GraphQL:
		return d.graphql(data)
	case SocketIO:
		return d.socketIO(data)
	}
	if d.texts {
		if in, ok := d.byText(data); ok {
			return in
		}
	}
	f, routed := d.framer.frame(data)
	in := Inbound{Frame: f, Data: routed}
	if f.Invalid != "" {
		return in
	}
	cfg := d.c.cfg
	switch {
	case f.Type == cfg.Heartbeat.PongType:
		return Inbound{Kind: Pong}
	case d.auth && f.Type == cfg.Auth.SuccessType:
		return Inbound{Kind: AuthOK}
	case d.auth && f.Type == cfg.Auth.FailureType:
		return Inbound{Kind: AuthFailed, Err: authFailedError(data)}
	}
	for _, a := range d.c.answers {
		if a.typ != "" && a.typ == f.Type {
			if r, ok := a.reply.Fill(data, ""); ok {
				return Inbound{Kind: Control, Reply: r}
			}
		}
	}
	if d.c.ack != nil {
		in.Ack, _ = d.c.ack.Fill(data, "")
	}
	return in
}

// byText matches the frames that rules name by their exact text (pong_message, answer.text).
func (d *Decoder) byText(data []byte) (Inbound, bool) {
	t := bytes.TrimSpace(data)
	if pm := d.c.cfg.Heartbeat.PongMessage; pm != "" && string(t) == pm {
		return Inbound{Kind: Pong}, true
	}
	for _, a := range d.c.answers {
		if a.text != "" && string(t) == a.text {
			r, _ := a.reply.Fill(nil, "")
			return Inbound{Kind: Control, Reply: r}, true
		}
	}
	return Inbound{}, false
}

// Frame reads a polled event with the stream's framing only: the type, the cursor and the
// bytes to route. Protocol messages do not travel by polling.
func (d *Decoder) Frame(data []byte) (wire.Frame, []byte) {
	return d.framer.frame(data)
}

// maxReason bounds the upstream's reason quoted in an auth failure.
const maxReason = 200

// authFailedError is the error of an auth failure frame, with the upstream's reason when the
// frame has one (a string "reason", "message" or "error" field), control characters escaped.
func authFailedError(data []byte) error {
	var m map[string]any
	if json.Unmarshal(data, &m) == nil {
		for _, k := range []string{"reason", "message", "error"} {
			if s, ok := m[k].(string); ok && s != "" {
				if len(s) > maxReason {
					s = s[:maxReason] + "…"
				}
				return fmt.Errorf("upstream refused the token: %s", messages.Printable(s))
			}
		}
	}
	return errors.New("upstream refused the token")
}
