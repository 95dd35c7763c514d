package messages

import (
	"fmt"
	"time"
)

// Via says which transport delivered an event.
const (
	ViaWebSocket = "websocket"
	ViaPoll      = "poll"
)

// FrameReceived carries one inbound data frame from Connection's reader (or the Poller) to
// the Router. It travels on the router's bounded mailbox, which is how a slow sink pushes
// back on the socket.
type FrameReceived struct {
	Gen     uint64    // connection generation; 0 from the poller
	Data    []byte    // owned by the message from here on
	Type    string    // the frame's "type", parsed once by the reader
	Cursor  string    // the cursor field's literal text; "" when absent or not configured
	Invalid string    // why the frame cannot be routed ("not JSON", "binary frame", …); "" when valid
	At      time.Time // when it was read
	Via     string    // ViaWebSocket or ViaPoll
	Ack     []byte    // the acknowledgement to send once every sink took the event; nil when none
}

// Subscribed tells the Router that the subscriptions of connection Gen went out carrying
// Cursor ("" when none). The Connection's reader sends it ahead of every frame read after
// them, so a Router that sees a numeric event at or below Cursor knows that no replay can
// explain it: the upstream's numbering went back.
type Subscribed struct {
	Gen    uint64
	Cursor string
}

// FramesReceived carries, oldest first, every frame that Connection's reader found already
// read (at most a count and a byte bound) when it was about to wait on the socket: under load
// one message, one mailbox slot check and one clock read cover many frames, and a frame that
// arrives alone still goes on at once. The frames' Data share one buffer, and all of them
// carry the same At: the time the read that completed the first of them returned. It counts
// as len(Frames) messages against the router's bounded mailbox. Its receiver must copy what
// it keeps of the frames: it hands Frames and Buf back for reuse when it is done.
type FramesReceived struct {
	Frames []FrameReceived // owned by the message until its receiver is done with it
	Bytes  int64           // the frames' Data lengths added up: what the byte bound counts
	Buf    []byte          // the buffer their Data share, given back with them; may be nil
}

// Connected is sent by Connection to every peer each time a socket is ready: handshake,
// authentication and subscriptions are done. Peers treat a repeated Connected as harmless.
type Connected struct {
	Gen       uint64        // connection generation; echoed in SendPing
	Host      string        // host only, never the full URL
	Handshake time.Duration // dial to upgrade

	// The server's own heartbeat (Engine.IO's open packet): it pings every PingInterval and the
	// link is dead when no ping came within PingInterval+PingTimeout. 0 = holdfast pings.
	PingInterval, PingTimeout time.Duration
}

// Disconnected is sent by Connection to every peer when a ready socket goes away.
type Disconnected struct {
	Gen       uint64
	Reason    error
	CloseCode int           // 0 when no close frame arrived
	Up        time.Duration // how long the socket was ready
}

// PongReceived tells Heartbeat the peer answered (or, with any_frame_alive, spoke).
type PongReceived struct {
	Gen uint64
	RTT time.Duration // 0 when unknown
}

// OutboundWritten tells Queue the Poller delivered message ID (send_url answered 2xx).
type OutboundWritten struct {
	ID uint64
}

// OutboundConfirmed tells Queue that every message up to and including UpTo that Connection
// wrote on socket Gen has been confirmed: the link showed life after the write completed (a
// pong to the writer's probe, the peer's close frame, or any frame read after the write).
// It is sent by the connection's reader goroutine, in increasing UpTo.
type OutboundConfirmed struct {
	Gen  uint64
	UpTo uint64
}

// OutboundFailed tells Queue a message could not be written; it stays queued.
type OutboundFailed struct {
	ID  uint64
	Gen uint64 // the SendOutbound's Gen, so a late answer from a former target is ignored
	Err error
}

// SendAck asks Connection to write an event's acknowledgement on socket Gen. The Cursor actor
// sends it once every sink the event went to has finished with it; an ack for an earlier
// socket is dropped, and the server redelivers the event.
type SendAck struct {
	Gen  uint64
	Data []byte
}

// GetCursor asks the Cursor actor for the last seen cursor; the answer is CursorValue.
type GetCursor struct{}

// FailureKind decides how the stream's strategy treats a lost link.
type FailureKind int

const (
	Transient    FailureKind = iota // network trouble: retry with backoff
	AuthRejected                    // 401/403 or auth_failed: no tight retry loop
	Protocol                        // the peer broke the protocol or the config cannot work
)

func (k FailureKind) String() string {
	switch k {
	case AuthRejected:
		return "auth_rejected"
	case Protocol:
		return "protocol"
	}
	return "transient"
}

// Failure is the reason Connection panics with when its socket fails; protoactor recovers it
// and hands it to the stream's strategy, which alone decides what happens next. It carries
// facts (what the server said), never a delay.
type Failure struct {
	Kind      FailureKind
	Err       error
	Hint      time.Duration // server's wait hint (Retry-After, close 1013 reason), capped at reconnect.max_hint where read; 0 when none
	CloseCode int           // the peer's close code; 0 when no close frame arrived
	SlowDown  bool          // the server asked us to slow down (close 1013, GraphQL 4429): wait at least max_delay
	Gen       uint64        // the generation that failed: a Connected of it still in a mailbox is stale
}

func (f *Failure) Error() string { return fmt.Sprintf("%s: %v", f.Kind, f.Err) }

func (f *Failure) Unwrap() error { return f.Err }
