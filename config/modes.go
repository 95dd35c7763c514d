package config

// The modes below are the closed sets of words some keys take. Each has a named type so that
// code compares against constants, never bare strings; Validate rejects any other value.

// AuthMode is how a stream's token travels (auth.mode). "" means AuthNone.
type AuthMode string

const (
	AuthNone    AuthMode = "none"
	AuthMessage AuthMode = "message" // {"type":"auth","token":…} after open
	AuthHeader  AuthMode = "header"  // a handshake header, e.g. Authorization: Bearer …
	AuthQuery   AuthMode = "query"   // a query parameter of the URL
)

// SendsToken reports whether the mode carries a token: every mode but none.
func (m AuthMode) SendsToken() bool { return m != "" && m != AuthNone }

// AuthOnFailure is what a refused token leads to (auth.on_failure). "" means OnFailureRetry.
type AuthOnFailure string

const (
	OnFailureRetry AuthOnFailure = "retry" // retry at max_delay
	OnFailureStop  AuthOnFailure = "stop"  // stop the stream and say so at error level
)

// HeartbeatMode is how a link is pinged (heartbeat.mode).
type HeartbeatMode string

const (
	HeartbeatMessage HeartbeatMode = "message" // {"type":"ping"} / {"type":"pong"}
	HeartbeatControl HeartbeatMode = "control" // WebSocket ping and pong frames
	HeartbeatBoth    HeartbeatMode = "both"
	HeartbeatOff     HeartbeatMode = "off"
)

// Messages reports whether the mode sends ping messages.
func (m HeartbeatMode) Messages() bool { return m == HeartbeatMessage || m == HeartbeatBoth }

// Controls reports whether the mode sends WebSocket ping frames.
func (m HeartbeatMode) Controls() bool { return m == HeartbeatControl || m == HeartbeatBoth }

// Jitter names how a retry delay is spread (the jitter keys): one of the constants, or a
// positive duration such as "1s" to add uniform[0, duration). "" means JitterEqual.
type Jitter string

const (
	JitterNone  Jitter = "none"  // exactly the delay
	JitterFull  Jitter = "full"  // uniform[0, d]
	JitterEqual Jitter = "equal" // d/2 + uniform[0, d/2]
)

// Overflow is what a full outbound queue does with a new message (queue.overflow). ""
// means OverflowReject.
type Overflow string

const (
	OverflowReject     Overflow = "reject"      // the caller gets an error; nothing is stored
	OverflowDropOldest Overflow = "drop_oldest" // the oldest queued messages make room
	OverflowDropNewest Overflow = "drop_newest" // the new message is dropped
)
