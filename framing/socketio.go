package framing

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"holdfast/messages"
	"holdfast/wire"
)

// EngineIOQuery is the query that selects Engine.IO v4 over WebSocket without polling first.
const EngineIOQuery = "EIO=4&transport=websocket"

var eioPong = []byte("3")

// socketIO reads one Engine.IO packet and the Socket.IO packet it may carry.
func (d *Decoder) socketIO(data []byte) Inbound {
	if len(data) == 0 {
		return Inbound{Frame: wire.Frame{Invalid: messages.InvalidJSON}, Data: data}
	}
	switch data[0] {
	case '0':
		var open struct{ PingInterval, PingTimeout int64 }
		if err := json.Unmarshal(data[1:], &open); err != nil {
			return Inbound{Kind: Ended, Fail: messages.Protocol, Err: fmt.Errorf("engine.io open packet: %w", err)}
		}
		return Inbound{Kind: Open, PingInterval: time.Duration(open.PingInterval) * time.Millisecond,
			PingTimeout: time.Duration(open.PingTimeout) * time.Millisecond}
	case '1':
		return Inbound{Kind: Ended, Fail: messages.Transient, Err: errors.New("engine.io session closed by the server")}
	case '2':
		return Inbound{Kind: Pong, Reply: eioPong} // the server's ping: answering it is our heartbeat
	case '3', '6':
		return Inbound{Kind: Control}
	case '4':
		return d.socketPacket(data[1:])
	}
	return Inbound{Kind: Control, Err: fmt.Errorf("unexpected engine.io packet type %q", data[0])}
}

// socketPacket reads a Socket.IO packet: <type>[<namespace>,][<ack id>][JSON].
func (d *Decoder) socketPacket(p []byte) Inbound {
	if len(p) == 0 {
		return Inbound{Kind: Control, Err: errors.New("empty socket.io packet")}
	}
	typ, rest := p[0], p[1:]
	ns := "/"
	if len(rest) > 0 && rest[0] == '/' {
		i := strings.IndexByte(string(rest), ',')
		if i < 0 {
			ns, rest = string(rest), nil
		} else {
			ns, rest = string(rest[:i]), rest[i+1:]
		}
	}
	if ns != d.c.cfg.SocketIO.Namespace {
		return Inbound{Kind: Control} // another namespace on the same connection
	}
	id := 0
	for id < len(rest) && '0' <= rest[id] && rest[id] <= '9' {
		id++
	}
	ackID, body := rest[:id], rest[id:]
	switch typ {
	case '0':
		return Inbound{Kind: AuthOK}
	case '1':
		return Inbound{Kind: Ended, Fail: messages.Transient, Err: fmt.Errorf("namespace %s disconnected by the server", ns)}
	case '4':
		var e struct{ Message string }
		_ = json.Unmarshal(body, &e)
		if e.Message == "" {
			e.Message = "connect refused"
		}
		return Inbound{Kind: AuthFailed, Err: fmt.Errorf("namespace %s: %s", ns, e.Message)}
	case '3':
		return Inbound{Kind: Control} // an ack of something we emitted
	case '5', '6':
		return Inbound{Frame: wire.Frame{Invalid: messages.InvalidBinary}, Data: p}
	case '2':
	default:
		return Inbound{Kind: Control, Err: fmt.Errorf("unexpected socket.io packet type %q", typ)}
	}
	var head []json.RawMessage
	if err := json.Unmarshal(body, &head); err != nil || len(head) == 0 {
		return Inbound{Frame: wire.Frame{Invalid: messages.InvalidObject}, Data: body}
	}
	name, ok := scalarText(head[0])
	if !ok || head[0][0] != '"' {
		return Inbound{Frame: wire.Frame{Invalid: messages.InvalidType}, Data: body}
	}
	f := wire.Frame{Type: d.intern(name)}
	if p, ok := d.framer.(*pointers); ok && p.cursor != nil {
		if v, ok := p.cursor.Find(body); ok {
			f.Cursor, _ = scalarText(v)
		}
	}
	in := Inbound{Frame: f, Data: body}
	if len(ackID) > 0 {
		in.Ack = append(append([]byte("43"+d.c.ns), ackID...), "[]"...)
	}
	return in
}

func (d *Decoder) intern(s string) string {
	if n, ok := d.names[s]; ok {
		return n
	}
	if d.names == nil {
		d.names = map[string]string{}
	}
	if len(d.names) < maxNames {
		d.names[s] = s
	}
	return s
}
