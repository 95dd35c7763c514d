// Package config reads and validates holdfast's TOML configuration.
package config

import "time"

// Config is the whole file. Parse decodes it over DefaultConfig, every [[sink]] over
// DefaultSinkConfig, every [[stream]] over DefaultStreamConfig and a [stream.fallback]
// over DefaultFallbackConfig, so keys that are absent get their Default… value and
// keys that are written keep theirs, zero included.
type Config struct {
	Daemon  DaemonConfig   `toml:"daemon"`
	Control ControlConfig  `toml:"control"`
	Sinks   []SinkConfig   `toml:"sink"`
	Streams []StreamConfig `toml:"stream"`
	Cluster *ClusterConfig `toml:"cluster"` // nil: a single instance with local state
}

// DaemonConfig holds process-wide settings.
type DaemonConfig struct {
	LogLevel        string   `toml:"log_level"`        // trace|debug|info|warn|error. Default: info.
	LogFormat       string   `toml:"log_format"`       // auto|json|console. Default: auto.
	StateDir        string   `toml:"state_dir"`        // cursors and durable queues. Default: ./state.
	ShutdownTimeout Duration `toml:"shutdown_timeout"` // Default: 10s.
}

// ControlConfig is the local control API (status, send, health, metrics).
type ControlConfig struct {
	Listen     string `toml:"listen"`      // "127.0.0.1:7070", "unix:/path", or "" (off). Default: 127.0.0.1:7070.
	SocketMode string `toml:"socket_mode"` // octal file mode of a unix socket. Default: "0600".
	TokenEnv   string `toml:"token_env"`   // bearer token required on every call when set
	TokenFile  string `toml:"token_file"`
	MaxBody    Size   `toml:"max_body"` // Default: 1MiB.
}

// TLSConfig configures client TLS for sockets, polls and webhooks.
type TLSConfig struct {
	CAFile             string `toml:"ca_file"`
	CertFile           string `toml:"cert_file"`
	KeyFile            string `toml:"key_file"`
	ServerName         string `toml:"server_name"`
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
}

// BackoffConfig is the retry schedule shared by reconnects, sinks and polls.
// Delay(n) = min(MaxDelay, InitialDelay*Multiplier^(n-1)), then Jitter.
type BackoffConfig struct {
	InitialDelay Duration `toml:"initial_delay"` // Default: 1s.
	MaxDelay     Duration `toml:"max_delay"`     // Default: 30s.
	Multiplier   float64  `toml:"multiplier"`    // Default: 2.
	Jitter       Jitter   `toml:"jitter"`        // "none", "full", "equal", or a duration for additive. Default: equal.
}

// SinkConfig is one named output. Kind picks which of the kind-specific fields apply.
type SinkConfig struct {
	Name       string        `toml:"name"`
	Kind       string        `toml:"kind"`        // stdout|file|exec|webhook|nats
	Buffer     int           `toml:"buffer"`      // mailbox size in events. Default: 1024.
	MaxRetries int           `toml:"max_retries"` // exec/webhook. Default: 5.
	Retry      BackoffConfig `toml:"retry"`       // Default: 500ms..30s, x2, equal.
	DeadLetter string        `toml:"dead_letter"` // name of another sink; "" = log at error and count
	// UnhealthyAfter is how long the sink may fail continuously (no success in between)
	// before its stream stops being ready. 0 = never. Default: 1m.
	UnhealthyAfter Duration `toml:"unhealthy_after"`

	// file
	Path          string   `toml:"path"`
	FlushInterval Duration `toml:"flush_interval"` // Default: 100ms.
	Fsync         bool     `toml:"fsync"`          // fsync on every flush. Default: false.

	// exec
	Command     []string `toml:"command"`     // argv, no shell
	Mode        string   `toml:"mode"`        // per_event|pipe. Default: per_event.
	Timeout     Duration `toml:"timeout"`     // per_event run / webhook request. Default: 30s exec, 10s webhook (set by Kind when absent).
	Concurrency int      `toml:"concurrency"` // Default: 1 (keeps order).
	// Env and PassEnv are the child's environment besides PATH and HOLDFAST_STREAM, _TYPE and
	// _OFFSET: Env's values as written, PassEnv's names copied from the daemon's environment.
	// Nothing else of the daemon's environment (its tokens) reaches the child.
	Env     map[string]string `toml:"env"`
	PassEnv []string          `toml:"pass_env"`

	// webhook
	URL       string            `toml:"url"`
	Headers   map[string]string `toml:"headers"`
	TokenEnv  string            `toml:"token_env"`
	TokenFile string            `toml:"token_file"`
	TLS       TLSConfig         `toml:"tls"`
	BatchMax  int               `toml:"batch_max"`  // Default: 1 (one event per POST, as an object).
	BatchWait Duration          `toml:"batch_wait"` // Default: 0.

	// nats (JetStream): also token_env, token_file and tls above, and timeout (the PubAck
	// wait, Default: 10s)
	NATSConnConfig
	Subject         string   `toml:"subject"`          // template: {stream}, {type}. Default: holdfast.{stream}.{type}.
	JetStream       string   `toml:"jetstream"`        // the JetStream stream. Default: HOLDFAST.
	CreateStream    bool     `toml:"create_stream"`    // create or update it at connect. Default: false.
	StreamSubjects  []string `toml:"stream_subjects"`  // Default: the subject's literal prefix + ">".
	Storage         string   `toml:"storage"`          // file|memory. Default: file.
	Replicas        int      `toml:"replicas"`         // Default: 1.
	Retention       string   `toml:"retention"`        // limits|interest|workqueue. Default: limits.
	DuplicateWindow Duration `toml:"duplicate_window"` // Default: 2m.
	MaxPending      int      `toml:"max_pending"`      // unacknowledged publishes at most. Default: 256.
}

// NATSConnConfig is how holdfast connects to NATS (the nats sink and [cluster]). Token,
// credentials and NKey seed are read at every connect, like the other secrets.
type NATSConnConfig struct {
	URLs           []string `toml:"urls"`            // Default: ["nats://127.0.0.1:4222"].
	ConnectionName string   `toml:"connection_name"` // Default: holdfast.
	CredsFile      string   `toml:"creds_file"`      // JWT and NKey seed (.creds)
	NKeyFile       string   `toml:"nkey_file"`       // NKey seed
}

// ClusterConfig turns on cluster mode: instances with the same config share the streams
// through leases in a JetStream key-value bucket.
type ClusterConfig struct {
	NATSConnConfig
	TokenEnv  string    `toml:"token_env"`
	TokenFile string    `toml:"token_file"`
	TLS       TLSConfig `toml:"tls"`
	Instance  string    `toml:"instance"`  // unique per instance. Default: <hostname>-<pid>.
	Bucket    string    `toml:"bucket"`    // prefix of the KV buckets <bucket>_leases, <bucket>_cursors. Default: holdfast.
	LeaseTTL  Duration  `toml:"lease_ttl"` // Default: 10s.
	Slack     int       `toml:"slack"`     // streams above the fair share kept before handing over. Default: 0.
	Replicas  int       `toml:"replicas"`  // of the KV buckets. Default: 1.
}

// StreamConfig is one upstream feed and everything that hangs off it.
type StreamConfig struct {
	Name         string            `toml:"name"`
	URL          string            `toml:"url"`
	Headers      map[string]string `toml:"headers"`
	Subprotocols []string          `toml:"subprotocols"`
	ReadLimit    Size              `toml:"read_limit"` // Default: 1MiB.
	// MaxInflightBytes bounds the bytes of events held between the reader and the sinks
	// (router and sink mailboxes, sink hand-off); the reader waits while it is reached.
	// Default: 64MiB.
	MaxInflightBytes Size      `toml:"max_inflight_bytes"`
	HandshakeTimeout Duration  `toml:"handshake_timeout"` // Default: 10s.
	WriteTimeout     Duration  `toml:"write_timeout"`     // Default: 10s.
	Compression      bool      `toml:"compression"`       // permessage-deflate. Default: false.
	TLS              TLSConfig `toml:"tls"`
	DeadLetter       string    `toml:"dead_letter"` // sink for frames that cannot be routed
	Protocol         string    `toml:"protocol"`    // json|graphql-transport-ws|socket.io. Default: json.

	Subscribe []SubscribeConfig `toml:"subscribe"`
	Routes    []RouteConfig     `toml:"route"`
	Reconnect ReconnectConfig   `toml:"reconnect"`
	Heartbeat HeartbeatConfig   `toml:"heartbeat"`
	Auth      AuthConfig        `toml:"auth"`
	Cursor    CursorConfig      `toml:"cursor"`
	Queue     QueueConfig       `toml:"queue"`
	Fallback  *FallbackConfig   `toml:"fallback"` // nil: no polling fallback
	Framing   FramingConfig     `toml:"framing"`
	Answers   []AnswerConfig    `toml:"answer"`
	Ack       AckConfig         `toml:"ack"`
	GraphQL   GraphQLConfig     `toml:"graphql"`
	SocketIO  SocketIOConfig    `toml:"socketio"`
}

// FramingConfig says where a frame's type and cursor are, and what happens to frames that
// are not JSON objects. Paths are JSON pointers (RFC 6901): "/data/e", "/0".
type FramingConfig struct {
	TypePath    string `toml:"type_path"`    // Default: /type.
	CursorPath  string `toml:"cursor_path"`  // Default: "/" + cursor.field when that is set.
	ArrayType   string `toml:"array_type"`   // type for arrays with nothing at type_path; "" = reject. "*" = the * route.
	TextType    string `toml:"text_type"`    // type for frames that are not JSON (plain text); "" = reject.
	UntypedType string `toml:"untyped_type"` // type for objects with nothing at type_path; "" = reject.
}

// AnswerConfig replies to the server's own application pings: a frame whose type is Type
// (or whose text is Text) is answered at once with Reply, a template that may copy fields
// of the frame (${/id}).
type AnswerConfig struct {
	Type  string `toml:"type"`
	Text  string `toml:"text"`
	Reply string `toml:"reply"`
}

// AckConfig acknowledges each event once every sink it was routed to has taken it.
type AckConfig struct {
	Message string `toml:"message"` // template filled from the event: {"envelope_id":${/envelope_id}}; "" = no acks
}

// GraphQLConfig is protocol "graphql-transport-ws". Each [[stream.subscribe]] is one operation.
type GraphQLConfig struct {
	InitPayload map[string]any `toml:"init_payload"` // connection_init payload; the token goes under auth.token_field
}

// SocketIOConfig is protocol "socket.io" (Engine.IO v4 over WebSocket).
type SocketIOConfig struct {
	Namespace      string         `toml:"namespace"`       // Default: /.
	Path           string         `toml:"path"`            // Engine.IO path on the server. Default: /socket.io/.
	Auth           map[string]any `toml:"auth"`            // connect payload; "${cursor}" values are the resume cursor
	EmitEvent      string         `toml:"emit_event"`      // event name outbound messages are emitted as. Default: message.
	ConnectTimeout Duration       `toml:"connect_timeout"` // open and namespace connect. Default: 10s.
}

// SubscribeConfig is one message sent after every (re)connect, in order. A string value
// "${cursor}" anywhere in Message (or Variables) becomes the resume cursor.
type SubscribeConfig struct {
	Message map[string]any `toml:"message"`
	Text    string         `toml:"text"` // a raw text frame instead of Message; ${cursor} is replaced

	// graphql-transport-ws: one operation per subscribe.
	ID            string         `toml:"id"` // Default: the operation name, else its position.
	Query         string         `toml:"query"`
	OperationName string         `toml:"operation_name"` // also the type its events are routed as
	Variables     map[string]any `toml:"variables"`

	// socket.io: emitted as an event after the namespace connect.
	Event string `toml:"event"`
}

// RouteConfig sends events of Type ("*" = any type without a more specific route) to Sinks.
type RouteConfig struct {
	Type  string   `toml:"type"`
	Sinks []string `toml:"sinks"`
}

// ReconnectConfig is the stream supervisor's restart policy.
type ReconnectConfig struct {
	BackoffConfig
	MaxAttempts int      `toml:"max_attempts"` // 0 = never give up. Default: 0.
	StableAfter Duration `toml:"stable_after"` // attempts reset after a link lived this long. Default: 30s.
	MaxHint     Duration `toml:"max_hint"`     // cap of a server's wait hint (Retry-After, close 1013); 0 = ignore hints. Default: 5m.
}

// HeartbeatConfig decides how dead and half-open links are detected.
type HeartbeatConfig struct {
	Mode          HeartbeatMode `toml:"mode"`            // message|control|both|off. Default: message.
	Interval      Duration      `toml:"interval"`        // Default: 15s.
	Timeout       Duration      `toml:"timeout"`         // no pong for this long = dead. Default: 10s.
	AnyFrameAlive bool          `toml:"any_frame_alive"` // inbound events count as a pong. Default: true.
	StaleAfter    Duration      `toml:"stale_after"`     // no event for this long: resubscribe, then reconnect. 0 = off.
	PingType      string        `toml:"ping_type"`       // Default: ping.
	PongType      string        `toml:"pong_type"`       // Default: pong.
	PingMessage   string        `toml:"ping_message"`    // sent instead of {"type":<ping_type>}: any JSON or text. Default: "".
	PongMessage   string        `toml:"pong_message"`    // a frame with exactly this text is a pong too. Default: "".
}

// AuthConfig authenticates each connection.
type AuthConfig struct {
	Mode        AuthMode      `toml:"mode"`       // none|message|header|query. Default: none.
	TokenEnv    string        `toml:"token_env"`  // name of the variable holding the token
	TokenFile   string        `toml:"token_file"` // read at every connect; relative paths try $CREDENTIALS_DIRECTORY first
	Header      string        `toml:"header"`     // Default: Authorization.
	Scheme      string        `toml:"scheme"`     // prefix in the header value. Default: Bearer.
	QueryParam  string        `toml:"query_param"`
	Timeout     Duration      `toml:"timeout"`      // wait for auth_success (connection_ack, namespace connect). Default: 10s.
	OnFailure   AuthOnFailure `toml:"on_failure"`   // retry (at max_delay) | stop. Default: retry.
	MessageType string        `toml:"message_type"` // Default: auth.
	TokenField  string        `toml:"token_field"`  // Default: token.
	SuccessType string        `toml:"success_type"` // Default: auth_success.
	FailureType string        `toml:"failure_type"` // Default: auth_failed.
}

// CursorConfig enables resume: the last value of Field is persisted and sent back on subscribe.
type CursorConfig struct {
	Field              string   `toml:"field"`               // "" = no cursor
	SubscribeKey       string   `toml:"subscribe_key"`       // Default: since.
	CheckpointInterval Duration `toml:"checkpoint_interval"` // Default: 1s.
	// OnReset is what a numeric cursor does when the upstream's numbering goes back in a way
	// no replay explains: accept (warn, count, move the cursor back, deliver) or drop (keep
	// dropping events at or below the old cursor, logged). Default: accept.
	OnReset string `toml:"on_reset"`
	// ResetWindow is how far (in cursor units) a numeric cursor may go back without a
	// subscribe to explain it before that counts as a reset. Default: 10000.
	ResetWindow int64 `toml:"reset_window"`
}

// QueueConfig bounds the outbound queue.
type QueueConfig struct {
	MaxMessages int      `toml:"max_messages"` // Default: 10000.
	MaxBytes    Size     `toml:"max_bytes"`    // Default: 16MiB.
	Overflow    Overflow `toml:"overflow"`     // reject|drop_oldest|drop_newest. Default: reject.
	TTL         Duration `toml:"ttl"`          // 0 = messages never expire.
	Durable     bool     `toml:"durable"`      // bbolt under state_dir. Default: false.
}

// FallbackConfig turns on HTTP polling when reconnect attempts run out.
type FallbackConfig struct {
	PollURL             string            `toml:"poll_url"`
	SendURL             string            `toml:"send_url"` // "" = outbound waits for the socket
	Headers             map[string]string `toml:"headers"`
	Interval            Duration          `toml:"interval"`              // Default: 5s.
	MaxInterval         Duration          `toml:"max_interval"`          // cap of the error backoff. Default: 60s.
	Jitter              Jitter            `toml:"jitter"`                // as BackoffConfig.Jitter. Default: equal.
	Timeout             Duration          `toml:"timeout"`               // per request. Default: 10s.
	CursorParam         string            `toml:"cursor_param"`          // Default: since.
	Shape               string            `toml:"shape"`                 // auto|envelope|array|object. Default: auto.
	RetryWebsocketEvery Duration          `toml:"retry_websocket_every"` // Default: 60s.
	PromoteAfter        Duration          `toml:"promote_after"`         // socket must stay healthy this long. Default: 10s.
}

// Duration is a time.Duration written as "20s", "1m30s" or "100ms" in TOML.
// Negative durations and bare numbers other than 0 are rejected.
type Duration struct{ time.Duration }

// Size is a byte count written as "1MiB", "512KiB", "10MB", "100B" or a bare
// integer (a TOML integer or a string). Negative sizes are rejected.
type Size int64
