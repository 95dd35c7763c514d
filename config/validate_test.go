package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// baseTOML is the smallest valid file the tests start from.
const baseTOML = `[[sink]]
name = "events"
kind = "file"
path = "events.jsonl"

[[sink]]
name = "console"
kind = "stdout"

[[stream]]
name = "processing"
url = "ws://127.0.0.1:8080/ws"

[[stream.route]]
type = "processing_progress"
sinks = ["events"]
`

func baseConfig(t *testing.T) *Config {
	t.Helper()
	c, err := Parse([]byte(baseTOML), "base.toml")
	if err != nil {
		t.Fatalf("base config: %v", err)
	}
	return c
}

func dur(d time.Duration) Duration { return Duration{d} }

func TestValidate(t *testing.T) {
	webhook := func(c *Config) *SinkConfig {
		c.Sinks[0] = SinkConfig{Name: "events", Kind: "webhook", URL: "https://h/x", Buffer: 1, Concurrency: 1,
			BatchMax: 1, Timeout: dur(time.Second), Retry: c.Sinks[0].Retry}
		return &c.Sinks[0]
	}
	exec := func(c *Config) *SinkConfig {
		c.Sinks[0].Kind, c.Sinks[0].Command, c.Sinks[0].Timeout = "exec", []string{"/bin/true"}, dur(time.Second)
		return &c.Sinks[0]
	}
	fallback := func(c *Config) *FallbackConfig {
		fb := DefaultFallbackConfig()
		fb.PollURL = "https://h/poll"
		c.Streams[0].Fallback = &fb
		return &fb
	}
	st := func(c *Config) *StreamConfig { return &c.Streams[0] }
	for _, tt := range []struct {
		name   string
		mutate func(c *Config)
		want   string // "" = valid
	}{
		{"base is valid", func(c *Config) {}, ""},
		{"protocol unknown", func(c *Config) { st(c).Protocol = "stomp" }, `stream "processing" protocol: "stomp" is not one of json, graphql-transport-ws, socket.io`},
		{"type_path not a pointer", func(c *Config) { st(c).Framing.TypePath = "e" }, `stream "processing" framing.type_path: "e" is not a JSON pointer`},
		{"type_path empty", func(c *Config) { st(c).Framing.TypePath = "" }, `stream "processing" framing.type_path: must not be empty`},
		{"cursor_path bad escape", func(c *Config) { st(c).Framing.CursorPath = "/a~2" }, `stream "processing" framing.cursor_path: "/a~2": ~ must be written ~0`},
		{"cursor_path is valid", func(c *Config) { st(c).Framing.CursorPath = "/data/u" }, ""},
		{"ack template unclosed", func(c *Config) { st(c).Ack.Message = `{"id":${/id}` + "" + `${/x` }, `stream "processing" ack.message: placeholder at "${/x" is not closed`},
		{"ack template unknown placeholder", func(c *Config) { st(c).Ack.Message = `{"id":${id}}` }, `stream "processing" ack.message: placeholder ${id} is neither`},
		{"answer needs type or text", func(c *Config) { st(c).Answers = []AnswerConfig{{Reply: "pong"}} }, `stream "processing" answer[0]: needs exactly one of type or text`},
		{"answer needs reply", func(c *Config) { st(c).Answers = []AnswerConfig{{Text: "PING"}} }, `stream "processing" answer[0].reply: is required`},
		{"graphql subscribe needs query", func(c *Config) {
			st(c).Protocol = "graphql-transport-ws"
			st(c).Subscribe = []SubscribeConfig{{OperationName: "Ticks"}}
		}, `stream "processing" subscribe[0].query: is required with protocol "graphql-transport-ws"`},
		{"socket.io subscribe needs event", func(c *Config) {
			st(c).Protocol = "socket.io"
			st(c).Subscribe = []SubscribeConfig{{Message: map[string]any{"a": 1}}}
		}, `stream "processing" subscribe[0].event: is required with protocol "socket.io"`},
		{"socket.io namespace", func(c *Config) { st(c).Protocol, st(c).SocketIO.Namespace = "socket.io", "feed" }, `stream "processing" socketio.namespace: "feed" must start with /`},
		{"subscribe message and text", func(c *Config) {
			st(c).Subscribe = []SubscribeConfig{{Message: map[string]any{"a": 1}, Text: "SUB"}}
		}, `stream "processing" subscribe[0].text: set message or text, not both`},
		{"no streams", func(c *Config) { c.Streams = nil }, "stream: at least one [[stream]] is required"},
		{"stream name empty", func(c *Config) { st(c).Name = "" }, "stream[0] name: is required"},
		{"stream name charset", func(c *Config) { st(c).Name = "a b" }, `stream[0] name: "a b" may only contain`},
		{"stream name duplicate", func(c *Config) { c.Streams = append(c.Streams, c.Streams[0]) }, `stream[1] name: "processing" is already used by stream[0]`},
		{"sink name empty", func(c *Config) { c.Sinks[1].Name = "" }, "sink[1] name: is required"},
		{"sink name charset", func(c *Config) { c.Sinks[1].Name = "con/sole" }, `sink[1] name: "con/sole" may only contain`},
		{"sink name duplicate", func(c *Config) { c.Sinks[1].Name = "events" }, `sink[1] name: "events" is already used by sink[0]`},
		{"url required", func(c *Config) { st(c).URL = "" }, `stream "processing" url: is required`},
		{"url scheme", func(c *Config) { st(c).URL = "http://h/ws" }, `stream "processing" url: scheme "http" is not one of wss, ws`},
		{"url host", func(c *Config) { st(c).URL = "ws:///ws" }, `stream "processing" url: has no host`},
		{"url unparsable hides the URL", func(c *Config) { st(c).URL = "ws://h/%zz?token=s3cret" }, `stream "processing" url: invalid URL: invalid URL escape`},
		{"read_limit", func(c *Config) { st(c).ReadLimit = 0 }, `stream "processing" read_limit: must be greater than 0`},
		{"handshake_timeout", func(c *Config) { st(c).HandshakeTimeout = dur(0) }, `stream "processing" handshake_timeout: must be greater than 0`},
		{"write_timeout", func(c *Config) { st(c).WriteTimeout = dur(0) }, `stream "processing" write_timeout: must be greater than 0`},
		{"stream dead_letter undefined", func(c *Config) { st(c).DeadLetter = "nope" }, `stream "processing" dead_letter: sink "nope" is not defined`},
		{"subscribe message empty", func(c *Config) { st(c).Subscribe = []SubscribeConfig{{}} }, `stream "processing" subscribe[0].message: must not be empty`},

		{"sink kind empty", func(c *Config) { c.Sinks[1].Kind = "" }, `sink "console" kind: is required`},
		{"sink kind unknown", func(c *Config) { c.Sinks[1].Kind = "kafka" }, `sink "console" kind: "kafka" is not one of stdout, file, exec, webhook`},
		{"file path", func(c *Config) { c.Sinks[0].Path = "" }, `sink "events" path: is required for a file sink`},
		{"exec command", func(c *Config) { exec(c).Command = nil }, `sink "events" command: is required`},
		{"exec command empty argv0", func(c *Config) { exec(c).Command = []string{""} }, `sink "events" command: is required`},
		{"exec mode", func(c *Config) { exec(c).Mode = "batch" }, `sink "events" mode: "batch" is not one of per_event, pipe`},
		{"exec timeout", func(c *Config) { exec(c).Timeout = dur(0) }, `sink "events" timeout: must be greater than 0`},
		{"exec pipe valid", func(c *Config) { exec(c).Mode = "pipe" }, ""},
		{"webhook valid", func(c *Config) { webhook(c) }, ""},
		{"webhook url required", func(c *Config) { webhook(c).URL = "" }, `sink "events" url: is required`},
		{"webhook url scheme", func(c *Config) { webhook(c).URL = "ftp://h/x" }, `sink "events" url: scheme "ftp" is not one of https, http`},
		{"webhook timeout", func(c *Config) { webhook(c).Timeout = dur(0) }, `sink "events" timeout: must be greater than 0`},
		{"buffer", func(c *Config) { c.Sinks[0].Buffer = 0 }, `sink "events" buffer: must be between 1 and 1048576, got 0`},
		{"buffer absurd", func(c *Config) { c.Sinks[0].Buffer = 100_000_000 }, `sink "events" buffer: must be between 1 and 1048576, got 100000000`},
		{"max_retries", func(c *Config) { c.Sinks[0].MaxRetries = -1 }, `sink "events" max_retries: must not be negative`},
		{"concurrency", func(c *Config) { c.Sinks[0].Concurrency = 0 }, `sink "events" concurrency: must be between 1 and 1024, got 0`},
		{"concurrency absurd", func(c *Config) { c.Sinks[0].Concurrency = 100_000_000 }, `sink "events" concurrency: must be between 1 and 1024, got 100000000`},
		{"batch_max", func(c *Config) { c.Sinks[0].BatchMax = 0 }, `sink "events" batch_max: must be between 1 and 10000, got 0`},
		{"sink retry multiplier", func(c *Config) { c.Sinks[0].Retry.Multiplier = 0.5 }, `sink "events" retry.multiplier: must be at least 1`},
		{"sink retry jitter", func(c *Config) { c.Sinks[0].Retry.Jitter = "half" }, `sink "events" retry.jitter: "half" is not`},
		{"dead_letter undefined", func(c *Config) { c.Sinks[0].DeadLetter = "nope" }, `sink "events" dead_letter: sink "nope" is not defined`},
		{"dead_letter self", func(c *Config) { c.Sinks[0].DeadLetter = "events" }, `sink "events" dead_letter: a sink cannot be its own dead letter`},
		{"dead_letter chain", func(c *Config) { c.Sinks[0].DeadLetter = "console" }, ""},
		{"dead_letter cycle", func(c *Config) { c.Sinks[0].DeadLetter, c.Sinks[1].DeadLetter = "console", "events" },
			`sink "events" dead_letter: dead letters form a cycle: events -> console -> events`},

		{"route type empty", func(c *Config) { st(c).Routes[0].Type = "" }, `stream "processing" route[0].type: is required`},
		{"route type duplicate", func(c *Config) { st(c).Routes = append(st(c).Routes, st(c).Routes[0]) },
			`stream "processing" route[1].type: "processing_progress" is already routed by route[0]`},
		{"route sinks empty", func(c *Config) { st(c).Routes[0].Sinks = nil }, `stream "processing" route[0].sinks: must name at least one sink`},
		{"route sink undefined", func(c *Config) { st(c).Routes[0].Sinks = []string{"evnts"} }, `stream "processing" route[0].sinks: sink "evnts" is not defined`},

		{"log_level", func(c *Config) { c.Daemon.LogLevel = "loud" }, `daemon.log_level: "loud" is not one of trace, debug, info, warn, error`},
		{"log_format", func(c *Config) { c.Daemon.LogFormat = "xml" }, `daemon.log_format: "xml" is not one of auto, json, console`},
		{"state_dir", func(c *Config) { c.Daemon.StateDir = "" }, `daemon.state_dir: must not be empty`},
		{"shutdown_timeout", func(c *Config) { c.Daemon.ShutdownTimeout = dur(0) }, `daemon.shutdown_timeout: must be greater than 0`},

		{"jitter word", func(c *Config) { st(c).Reconnect.Jitter = "half" }, `stream "processing" reconnect.jitter: "half" is not "none", "full", "equal" or a positive duration`},
		{"jitter zero duration", func(c *Config) { st(c).Reconnect.Jitter = "0s" }, `stream "processing" reconnect.jitter`},
		{"jitter duration", func(c *Config) { st(c).Reconnect.Jitter = "1s" }, ""},
		{"jitter none", func(c *Config) { st(c).Reconnect.Jitter = "none" }, ""},
		{"multiplier", func(c *Config) { st(c).Reconnect.Multiplier = 0.5 }, `stream "processing" reconnect.multiplier: must be at least 1`},
		{"initial_delay zero", func(c *Config) { st(c).Reconnect.InitialDelay = dur(0) }, `stream "processing" reconnect.initial_delay: must be greater than 0`},
		{"initial_delay above max", func(c *Config) { st(c).Reconnect.InitialDelay = dur(time.Minute) },
			`stream "processing" reconnect.initial_delay: 1m0s is above max_delay 30s`},
		{"max_attempts", func(c *Config) { st(c).Reconnect.MaxAttempts = -1 }, `stream "processing" reconnect.max_attempts: must not be negative`},

		{"heartbeat mode", func(c *Config) { st(c).Heartbeat.Mode = "tcp" }, `stream "processing" heartbeat.mode: "tcp" is not one of message, control, both, off`},
		{"heartbeat interval", func(c *Config) { st(c).Heartbeat.Interval = dur(0) }, `stream "processing" heartbeat.interval: must be greater than 0`},
		{"heartbeat timeout", func(c *Config) { st(c).Heartbeat.Timeout = dur(0) }, `stream "processing" heartbeat.timeout: must be greater than 0`},
		{"heartbeat off ignores interval", func(c *Config) {
			st(c).Heartbeat.Mode, st(c).Heartbeat.Interval, st(c).Heartbeat.Timeout = "off", dur(0), dur(0)
		}, ""},
		{"heartbeat ping_type", func(c *Config) { st(c).Heartbeat.PingType = "" }, `stream "processing" heartbeat.ping_type: must not be empty`},

		{"auth mode", func(c *Config) { st(c).Auth.Mode = "basic" }, `stream "processing" auth.mode: "basic" is not one of none, message, header, query`},
		{"auth message needs token", func(c *Config) { st(c).Auth.Mode = "message" }, `stream "processing" auth: mode "message" needs token_env or token_file`},
		{"auth header needs token", func(c *Config) { st(c).Auth.Mode = "header" }, `stream "processing" auth: mode "header" needs token_env or token_file`},
		{"auth query needs token", func(c *Config) { st(c).Auth.Mode, st(c).Auth.QueryParam = "query", "t" }, `stream "processing" auth: mode "query" needs token_env or token_file`},
		{"auth query needs param", func(c *Config) { st(c).Auth.Mode, st(c).Auth.TokenEnv = "query", "TOKEN" }, `stream "processing" auth.query_param: is required`},
		{"cursor on_reset", func(c *Config) { st(c).Cursor.Field, st(c).Cursor.OnReset = "seq", "ignore" },
			`stream "processing" cursor.on_reset: "ignore" is not one of accept, drop`},
		{"cursor reset_window", func(c *Config) { st(c).Cursor.Field, st(c).Cursor.ResetWindow = "seq", 0 },
			`stream "processing" cursor.reset_window: must be greater than 0`},
		{"auth message valid", func(c *Config) { st(c).Auth.Mode, st(c).Auth.TokenFile = "message", "t.token" }, ""},
		{"auth on_failure", func(c *Config) { st(c).Auth.Mode, st(c).Auth.TokenEnv, st(c).Auth.OnFailure = "header", "T", "panic" },
			`stream "processing" auth.on_failure: "panic" is not one of retry, stop`},
		{"auth header name", func(c *Config) { st(c).Auth.Mode, st(c).Auth.TokenEnv, st(c).Auth.Header = "header", "T", "" },
			`stream "processing" auth.header: must not be empty`},
		{"auth success_type", func(c *Config) { st(c).Auth.Mode, st(c).Auth.TokenEnv, st(c).Auth.SuccessType = "message", "T", "" },
			`stream "processing" auth.success_type: must not be empty`},

		{"cursor checkpoint", func(c *Config) { st(c).Cursor.Field, st(c).Cursor.CheckpointInterval = "seq", dur(0) },
			`stream "processing" cursor.checkpoint_interval: must be greater than 0`},
		{"cursor subscribe_key", func(c *Config) { st(c).Cursor.Field, st(c).Cursor.SubscribeKey = "seq", "" },
			`stream "processing" cursor.subscribe_key: must not be empty`},

		{"queue overflow", func(c *Config) { st(c).Queue.Overflow = "block" }, `stream "processing" queue.overflow: "block" is not one of reject, drop_oldest, drop_newest`},
		{"queue max_messages", func(c *Config) { st(c).Queue.MaxMessages = 0 }, `stream "processing" queue.max_messages: must be greater than 0`},
		{"queue max_bytes", func(c *Config) { st(c).Queue.MaxBytes = 0 }, `stream "processing" queue.max_bytes: must be greater than 0`},

		{"fallback valid", func(c *Config) { fallback(c) }, ""},
		{"fallback poll_url", func(c *Config) { fallback(c).PollURL = "" }, `stream "processing" fallback.poll_url: is required`},
		{"fallback poll_url scheme", func(c *Config) { fallback(c).PollURL = "ws://h/poll" }, `stream "processing" fallback.poll_url: scheme "ws"`},
		{"fallback send_url scheme", func(c *Config) { fallback(c).SendURL = "ws://h/send" }, `stream "processing" fallback.send_url: scheme "ws"`},
		{"fallback shape", func(c *Config) { fallback(c).Shape = "ndjson" }, `stream "processing" fallback.shape: "ndjson" is not one of auto, envelope, array, object`},
		{"fallback interval", func(c *Config) { fallback(c).Interval = dur(0) }, `stream "processing" fallback.interval: must be greater than 0`},
		{"fallback max_interval", func(c *Config) { fallback(c).MaxInterval = dur(time.Second) }, `stream "processing" fallback.max_interval: 1s is below interval 5s`},
		{"fallback jitter", func(c *Config) { fallback(c).Jitter = "lots" }, `stream "processing" fallback.jitter: "lots" is not`},
		{"fallback timeout", func(c *Config) { fallback(c).Timeout = dur(0) }, `stream "processing" fallback.timeout: must be greater than 0`},
		{"fallback retry_websocket_every", func(c *Config) { fallback(c).RetryWebsocketEvery = dur(0) },
			`stream "processing" fallback.retry_websocket_every: must be greater than 0`},

		{"control listen off", func(c *Config) { c.Control.Listen = "" }, ""},
		{"control listen unix", func(c *Config) { c.Control.Listen = "unix:/run/holdfast.sock" }, ""},
		{"control listen all interfaces", func(c *Config) { c.Control.Listen = ":7070" }, ""},
		{"control listen unix without path", func(c *Config) { c.Control.Listen = "unix:" }, `control.listen: "unix:" needs a socket path`},
		{"control listen no port", func(c *Config) { c.Control.Listen = "localhost" }, `control.listen: "localhost" is not "", "unix:/path" or host:port`},
		{"control listen port range", func(c *Config) { c.Control.Listen = "127.0.0.1:70000" }, `control.listen: "127.0.0.1:70000" is not`},
		{"control socket_mode", func(c *Config) { c.Control.SocketMode = "0999" }, `control.socket_mode: "0999" is not an octal file mode`},
		{"control socket_mode too big", func(c *Config) { c.Control.SocketMode = "7777" }, `control.socket_mode: "7777" is not an octal file mode`},
		{"control max_body", func(c *Config) { c.Control.MaxBody = 0 }, `control.max_body: must be greater than 0`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig(t)
			tt.mutate(c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v\nwant an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Validate() = %v: leaks the URL query", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Key == "" {
				t.Errorf("Validate() = %#v, want *Error values with a Key", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := baseConfig(t)
	c.Daemon.LogLevel = "loud"
	c.Sinks[0].Path = ""
	c.Streams[0].URL = "http://h"
	c.Streams[0].Routes[0].Sinks = []string{"evnts"}
	err := c.Validate()
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || len(j.Unwrap()) != 4 {
		t.Fatalf("Validate() = %v, want 4 joined errors", err)
	}
}
