package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// checker collects problems; each names its key path.
type checker struct{ errs []error }

// scope is a table: how messages name it and its indexed TOML path.
type scope struct{ name, path string }

// add records a problem with key (relative to s, e.g. "route[0].sinks").
func (c *checker) add(s scope, key, format string, args ...any) {
	name, path := s.name, s.path
	if key != "" {
		name = strings.TrimSpace(name + " " + key)
		if path != "" {
			path += "."
		}
		path += key
	}
	c.errs = append(c.errs, &Error{Key: name, Msg: fmt.Sprintf(format, args...), path: path})
}

// oneOfMode is checker.oneOf for a named mode type (see modes.go).
func oneOfMode[T ~string](c *checker, s scope, key string, val T, allowed ...T) {
	words := make([]string, len(allowed))
	for i, a := range allowed {
		words[i] = string(a)
	}
	c.oneOf(s, key, string(val), words...)
}

func (c *checker) oneOf(s scope, key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	c.add(s, key, "%q is not one of %s", val, strings.Join(allowed, ", "))
}

func (c *checker) positive(s scope, key string, d Duration) {
	if d.Duration <= 0 {
		c.add(s, key, "must be greater than 0, got %s", d.Duration)
	}
}

func (c *checker) url(s scope, key, raw string, schemes ...string) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		c.add(s, key, "is required (%s://host/path)", schemes[0])
	case err != nil:
		c.add(s, key, "invalid URL: %v", redactURLError(err))
	case !contains(schemes, u.Scheme):
		c.add(s, key, "scheme %q is not one of %s", u.Scheme, strings.Join(schemes, ", "))
	case u.Host == "":
		c.add(s, key, "has no host")
	}
}

// redactURLError drops the URL that url.Parse quotes: it may hold a query token.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *checker) jitter(s scope, key string, j Jitter) {
	switch j {
	case JitterNone, JitterFull, JitterEqual:
		return
	}
	var d Duration
	if err := d.UnmarshalText([]byte(j)); err != nil || d.Duration <= 0 {
		c.add(s, key, `%q is not "none", "full", "equal" or a positive duration such as "1s"`, j)
	}
}

func (c *checker) backoff(s scope, key string, b BackoffConfig) {
	if b.InitialDelay.Duration <= 0 {
		c.add(s, key+"initial_delay", "must be greater than 0, got %s", b.InitialDelay.Duration)
	} else if b.InitialDelay.Duration > b.MaxDelay.Duration {
		c.add(s, key+"initial_delay", "%s is above max_delay %s", b.InitialDelay.Duration, b.MaxDelay.Duration)
	}
	if !(b.Multiplier >= 1) { // also catches NaN
		c.add(s, key+"multiplier", "must be at least 1, got %v", b.Multiplier)
	}
	c.jitter(s, key+"jitter", b.Jitter)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Validate returns every problem in c, joined with errors.Join, each an *Error
// naming its key (e.g. `stream "processing" route[0].sinks: sink "evnts" is not
// defined`); nil when c is usable.
func (c *Config) Validate() error {
	var ck checker
	top := scope{}
	ck.oneOf(top, "daemon.log_level", c.Daemon.LogLevel, "trace", "debug", "info", "warn", "error")
	ck.oneOf(top, "daemon.log_format", c.Daemon.LogFormat, "auto", "json", "console")
	if c.Daemon.StateDir == "" {
		ck.add(top, "daemon.state_dir", "must not be empty")
	}
	ck.positive(top, "daemon.shutdown_timeout", c.Daemon.ShutdownTimeout)
	ck.control(c.Control)

	sinks := map[string]int{}
	for i, s := range c.Sinks {
		sc := scope{name: "sink[" + strconv.Itoa(i) + "]", path: "sink[" + strconv.Itoa(i) + "]"}
		switch {
		case s.Name == "":
			ck.add(sc, "name", "is required")
		case !nameRE.MatchString(s.Name):
			ck.add(sc, "name", "%q may only contain letters, digits, '_', '.' and '-'", s.Name)
		case sinks[s.Name] > 0:
			ck.add(sc, "name", "%q is already used by sink[%d]", s.Name, sinks[s.Name]-1)
		default:
			sinks[s.Name] = i + 1
			sc.name = fmt.Sprintf("sink %q", s.Name)
		}
		ck.sink(sc, s)
	}
	ck.deadLetters(c.Sinks, sinks)

	if len(c.Streams) == 0 {
		ck.add(top, "stream", "at least one [[stream]] is required")
	}
	streams := map[string]int{}
	for i, s := range c.Streams {
		sc := scope{name: "stream[" + strconv.Itoa(i) + "]", path: "stream[" + strconv.Itoa(i) + "]"}
		switch {
		case s.Name == "":
			ck.add(sc, "name", "is required")
		case !nameRE.MatchString(s.Name):
			ck.add(sc, "name", "%q may only contain letters, digits, '_', '.' and '-'", s.Name)
		case streams[s.Name] > 0:
			ck.add(sc, "name", "%q is already used by stream[%d]", s.Name, streams[s.Name]-1)
		default:
			streams[s.Name] = i + 1
			sc.name = fmt.Sprintf("stream %q", s.Name)
		}
		ck.stream(sc, s, sinks)
	}
	if c.Cluster != nil {
		ck.cluster(c.Cluster)
		for i, s := range c.Streams {
			if strings.HasPrefix(s.Name, ".") || strings.HasSuffix(s.Name, ".") || strings.Contains(s.Name, "..") {
				ck.add(scope{name: fmt.Sprintf("stream %q", s.Name), path: "stream[" + strconv.Itoa(i) + "]"}, "name",
					"in cluster mode a name must not start or end with '.' or hold \"..\" (it is a key in the leases bucket)")
			}
		}
	}
	return errors.Join(ck.errs...)
}

func (ck *checker) control(c ControlConfig) {
	top := scope{}
	switch l := c.Listen; {
	case l == "":
	case strings.HasPrefix(l, "unix:"):
		if strings.TrimPrefix(l, "unix:") == "" {
			ck.add(top, "control.listen", `"unix:" needs a socket path, e.g. "unix:/run/holdfast/control.sock"`)
		}
	default:
		_, port, err := net.SplitHostPort(l)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			ck.add(top, "control.listen", `%q is not "", "unix:/path" or host:port`, l)
		}
	}
	if m, err := strconv.ParseUint(c.SocketMode, 8, 32); err != nil || m > 0o777 {
		ck.add(top, "control.socket_mode", "%q is not an octal file mode such as \"0600\"", c.SocketMode)
	}
	if c.MaxBody <= 0 {
		ck.add(top, "control.max_body", "must be greater than 0")
	}
}

func (ck *checker) sink(sc scope, s SinkConfig) {
	if s.Buffer < 1 || s.Buffer > MaxSinkBuffer {
		ck.add(sc, "buffer", "must be between 1 and %d, got %d", MaxSinkBuffer, s.Buffer)
	}
	if s.MaxRetries < 0 {
		ck.add(sc, "max_retries", "must not be negative, got %d", s.MaxRetries)
	}
	ck.backoff(sc, "retry.", s.Retry)
	if s.Concurrency < 1 || s.Concurrency > MaxConcurrency {
		ck.add(sc, "concurrency", "must be between 1 and %d, got %d", MaxConcurrency, s.Concurrency)
	}
	if s.BatchMax < 1 || s.BatchMax > MaxBatch {
		ck.add(sc, "batch_max", "must be between 1 and %d, got %d", MaxBatch, s.BatchMax)
	}
	switch s.Kind {
	case "stdout":
	case "file":
		if s.Path == "" {
			ck.add(sc, "path", "is required for a file sink")
		}
	case "exec":
		if len(s.Command) == 0 || s.Command[0] == "" {
			ck.add(sc, "command", "is required for an exec sink (argv, e.g. [\"/usr/bin/handler\", \"--flag\"])")
		}
		ck.oneOf(sc, "mode", s.Mode, "per_event", "pipe")
		ck.positive(sc, "timeout", s.Timeout)
	case "webhook":
		ck.url(sc, "url", s.URL, "https", "http")
		ck.positive(sc, "timeout", s.Timeout)
	case "nats":
		ck.nats(sc, s)
	case "":
		ck.add(sc, "kind", "is required (stdout, file, exec, webhook or nats)")
	default:
		ck.add(sc, "kind", "%q is not one of stdout, file, exec, webhook, nats", s.Kind)
	}
}

func (ck *checker) nats(sc scope, s SinkConfig) {
	ck.natsConn(sc, "", s.NATSConnConfig)
	ck.positive(sc, "timeout", s.Timeout)
	if err := CheckSubjectTemplate(s.Subject); err != nil {
		ck.add(sc, "subject", "%v", err)
	}
	if !natsNameRE.MatchString(s.JetStream) {
		ck.add(sc, "jetstream", "%q is not a stream name (letters, digits, '_' and '-')", s.JetStream)
	}
	ck.oneOf(sc, "storage", s.Storage, "file", "memory")
	ck.oneOf(sc, "retention", s.Retention, "limits", "interest", "workqueue")
	if s.Replicas < 1 || s.Replicas > 5 {
		ck.add(sc, "replicas", "must be 1 to 5, got %d", s.Replicas)
	}
	ck.positive(sc, "duplicate_window", s.DuplicateWindow)
	if s.MaxPending < 1 || s.MaxPending > MaxBatch {
		ck.add(sc, "max_pending", "must be 1 to %d, got %d", MaxBatch, s.MaxPending)
	}
}

func (ck *checker) natsConn(sc scope, prefix string, c NATSConnConfig) {
	if len(c.URLs) == 0 {
		ck.add(sc, prefix+"urls", "must name at least one server, e.g. [\"nats://127.0.0.1:4222\"]")
	}
	for _, u := range c.URLs {
		ck.url(sc, prefix+"urls", u, "nats", "tls", "ws", "wss")
	}
}

func (ck *checker) cluster(c *ClusterConfig) {
	top := scope{}
	ck.natsConn(top, "cluster.", c.NATSConnConfig)
	if !natsNameRE.MatchString(c.Bucket) {
		ck.add(top, "cluster.bucket", "%q is not a bucket name (letters, digits, '_' and '-')", c.Bucket)
	}
	if c.Instance != "" && !natsNameRE.MatchString(c.Instance) {
		ck.add(top, "cluster.instance", "%q may only contain letters, digits, '_' and '-'", c.Instance)
	}
	if c.LeaseTTL.Duration < 3*time.Second {
		ck.add(top, "cluster.lease_ttl", "must be at least 3s, got %v", c.LeaseTTL.Duration)
	}
	if c.Slack < 0 {
		ck.add(top, "cluster.slack", "must not be negative, got %d", c.Slack)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		ck.add(top, "cluster.replicas", "must be 1 to 5, got %d", c.Replicas)
	}
}

// deadLetters checks that every dead_letter names another sink and that following
// them never comes back around.
func (ck *checker) deadLetters(all []SinkConfig, byName map[string]int) {
	for i, s := range all {
		if s.DeadLetter == "" {
			continue
		}
		sc := scope{name: fmt.Sprintf("sink %q", s.Name), path: "sink[" + strconv.Itoa(i) + "]"}
		j := byName[s.DeadLetter] - 1
		switch {
		case s.DeadLetter == s.Name:
			ck.add(sc, "dead_letter", "a sink cannot be its own dead letter")
			continue
		case j < 0:
			ck.add(sc, "dead_letter", "sink %q is not defined", s.DeadLetter)
			continue
		}
		// Walk the chain from i; report a cycle once, at its first sink.
		chain, seen := []string{s.Name}, map[int]bool{i: true}
		for k := j; k >= 0; k = byName[all[k].DeadLetter] - 1 {
			chain = append(chain, all[k].Name)
			if seen[k] {
				if k == i && minIndex(seen) == i {
					ck.add(sc, "dead_letter", "dead letters form a cycle: %s", strings.Join(chain, " -> "))
				}
				break
			}
			seen[k] = true
		}
	}
}

func minIndex(m map[int]bool) int {
	lo := -1
	for k := range m {
		if lo < 0 || k < lo {
			lo = k
		}
	}
	return lo
}

func (ck *checker) stream(sc scope, s StreamConfig, sinks map[string]int) {
	ck.url(sc, "url", s.URL, "wss", "ws")
	if s.ReadLimit <= 0 {
		ck.add(sc, "read_limit", "must be greater than 0")
	}
	if s.MaxInflightBytes <= 0 {
		ck.add(sc, "max_inflight_bytes", "must be greater than 0")
	}
	ck.positive(sc, "handshake_timeout", s.HandshakeTimeout)
	ck.positive(sc, "write_timeout", s.WriteTimeout)
	if s.DeadLetter != "" && sinks[s.DeadLetter] == 0 {
		ck.add(sc, "dead_letter", "sink %q is not defined", s.DeadLetter)
	}
	ck.oneOf(sc, "protocol", s.Protocol, "json", "graphql-transport-ws", "socket.io")
	for i, sub := range s.Subscribe {
		key := fmt.Sprintf("subscribe[%d]", i)
		switch {
		case s.Protocol == "graphql-transport-ws":
			if sub.Query == "" {
				ck.add(sc, key+".query", "is required with protocol %q", s.Protocol)
			}
		case s.Protocol == "socket.io":
			if sub.Event == "" {
				ck.add(sc, key+".event", "is required with protocol %q (the event name to emit)", s.Protocol)
			}
		case len(sub.Message) == 0 && sub.Text == "":
			ck.add(sc, key+".message", "must not be empty")
		case len(sub.Message) > 0 && sub.Text != "":
			ck.add(sc, key+".text", "set message or text, not both")
		}
		if sub.Text != "" {
			ck.template(sc, key+".text", sub.Text)
		}
	}
	types := map[string]int{}
	for i, r := range s.Routes {
		key := fmt.Sprintf("route[%d]", i)
		switch {
		case r.Type == "":
			ck.add(sc, key+".type", `is required (an event type, or "*" for all others)`)
		case types[r.Type] > 0:
			ck.add(sc, key+".type", "%q is already routed by route[%d]", r.Type, types[r.Type]-1)
		default:
			types[r.Type] = i + 1
		}
		if len(r.Sinks) == 0 {
			ck.add(sc, key+".sinks", "must name at least one sink")
		}
		for _, name := range r.Sinks {
			if sinks[name] == 0 {
				ck.add(sc, key+".sinks", "sink %q is not defined", name)
			}
		}
	}

	rc := s.Reconnect
	ck.backoff(sc, "reconnect.", rc.BackoffConfig)
	if rc.MaxAttempts < 0 {
		ck.add(sc, "reconnect.max_attempts", "must not be negative (0 = never give up), got %d", rc.MaxAttempts)
	}

	hb := s.Heartbeat
	oneOfMode(ck, sc, "heartbeat.mode", hb.Mode, HeartbeatMessage, HeartbeatControl, HeartbeatBoth, HeartbeatOff)
	if hb.Mode != HeartbeatOff {
		ck.positive(sc, "heartbeat.interval", hb.Interval)
		ck.positive(sc, "heartbeat.timeout", hb.Timeout)
	}
	if hb.Mode.Messages() {
		if hb.PingType == "" {
			ck.add(sc, "heartbeat.ping_type", "must not be empty in mode %q", hb.Mode)
		}
		if hb.PongType == "" {
			ck.add(sc, "heartbeat.pong_type", "must not be empty in mode %q", hb.Mode)
		}
	}

	a := s.Auth
	oneOfMode(ck, sc, "auth.mode", a.Mode, AuthNone, AuthMessage, AuthHeader, AuthQuery)
	if a.Mode.SendsToken() {
		if a.TokenEnv == "" && a.TokenFile == "" {
			ck.add(sc, "auth", "mode %q needs token_env or token_file", a.Mode)
		}
		oneOfMode(ck, sc, "auth.on_failure", a.OnFailure, OnFailureRetry, OnFailureStop)
	}
	switch a.Mode {
	case AuthMessage:
		ck.positive(sc, "auth.timeout", a.Timeout)
		for _, f := range []struct{ key, v string }{
			{"message_type", a.MessageType}, {"token_field", a.TokenField},
			{"success_type", a.SuccessType}, {"failure_type", a.FailureType},
		} {
			if f.v == "" {
				ck.add(sc, "auth."+f.key, `must not be empty in mode "message"`)
			}
		}
	case AuthHeader:
		if a.Header == "" {
			ck.add(sc, "auth.header", `must not be empty in mode "header"`)
		}
	case AuthQuery:
		if a.QueryParam == "" {
			ck.add(sc, "auth.query_param", `is required in mode "query"`)
		}
	}

	ck.framing(sc, s)

	if s.Cursor.Field != "" {
		if s.Cursor.SubscribeKey == "" {
			ck.add(sc, "cursor.subscribe_key", "must not be empty when cursor.field is set")
		}
		ck.positive(sc, "cursor.checkpoint_interval", s.Cursor.CheckpointInterval)
		ck.oneOf(sc, "cursor.on_reset", s.Cursor.OnReset, "accept", "drop")
		if s.Cursor.ResetWindow <= 0 {
			ck.add(sc, "cursor.reset_window", "must be greater than 0, got %d", s.Cursor.ResetWindow)
		}
	}

	q := s.Queue
	if q.MaxMessages <= 0 {
		ck.add(sc, "queue.max_messages", "must be greater than 0, got %d", q.MaxMessages)
	}
	if q.MaxBytes <= 0 {
		ck.add(sc, "queue.max_bytes", "must be greater than 0")
	}
	oneOfMode(ck, sc, "queue.overflow", q.Overflow, OverflowReject, OverflowDropOldest, OverflowDropNewest)

	if fb := s.Fallback; fb != nil {
		ck.url(sc, "fallback.poll_url", fb.PollURL, "https", "http")
		if fb.SendURL != "" {
			ck.url(sc, "fallback.send_url", fb.SendURL, "https", "http")
		}
		ck.positive(sc, "fallback.interval", fb.Interval)
		if fb.MaxInterval.Duration < fb.Interval.Duration {
			ck.add(sc, "fallback.max_interval", "%s is below interval %s", fb.MaxInterval.Duration, fb.Interval.Duration)
		}
		ck.jitter(sc, "fallback.jitter", fb.Jitter)
		ck.positive(sc, "fallback.timeout", fb.Timeout)
		if fb.CursorParam == "" {
			ck.add(sc, "fallback.cursor_param", "must not be empty")
		}
		ck.oneOf(sc, "fallback.shape", fb.Shape, "auto", "envelope", "array", "object")
		ck.positive(sc, "fallback.retry_websocket_every", fb.RetryWebsocketEvery)
	}
}

// framing checks the JSON pointers, templates and protocol settings of a stream.
func (ck *checker) framing(sc scope, s StreamConfig) {
	f := s.Framing
	if f.TypePath == "" {
		ck.add(sc, "framing.type_path", `must not be empty (a JSON pointer such as "/type")`)
	}
	ck.pointer(sc, "framing.type_path", f.TypePath)
	ck.pointer(sc, "framing.cursor_path", f.CursorPath)
	if f.CursorPath != "" && s.Cursor.SubscribeKey == "" {
		ck.add(sc, "cursor.subscribe_key", "must not be empty when framing.cursor_path is set")
	}
	hb := s.Heartbeat
	if hb.PingMessage != "" {
		ck.template(sc, "heartbeat.ping_message", hb.PingMessage)
	}
	for i, a := range s.Answers {
		key := fmt.Sprintf("answer[%d]", i)
		if (a.Type == "") == (a.Text == "") {
			ck.add(sc, key, "needs exactly one of type or text (what the server's ping looks like)")
		}
		if a.Reply == "" {
			ck.add(sc, key+".reply", "is required")
		}
		ck.template(sc, key+".reply", a.Reply)
	}
	if s.Ack.Message != "" {
		ck.template(sc, "ack.message", s.Ack.Message)
	}
	if s.Protocol == "socket.io" {
		if !strings.HasPrefix(s.SocketIO.Namespace, "/") {
			ck.add(sc, "socketio.namespace", "%q must start with /", s.SocketIO.Namespace)
		}
		if !strings.HasPrefix(s.SocketIO.Path, "/") {
			ck.add(sc, "socketio.path", "%q must start with /", s.SocketIO.Path)
		}
		if s.SocketIO.EmitEvent == "" {
			ck.add(sc, "socketio.emit_event", "must not be empty")
		}
		if s.Ack.Message != "" {
			ck.add(sc, "ack.message", "socket.io acknowledges the events that ask for it by itself; leave ack.message empty")
		}
	}
	if s.Protocol != "json" && s.Auth.Mode == AuthMessage && s.Auth.TokenField == "" {
		ck.add(sc, "auth.token_field", "must not be empty: it names the token in the %s payload", s.Protocol)
	}
}

// pointer checks a JSON pointer (RFC 6901): "" or "/"-separated tokens, "~" only as ~0 or ~1.
func (ck *checker) pointer(sc scope, key, p string) {
	if p == "" {
		return
	}
	if !strings.HasPrefix(p, "/") {
		ck.add(sc, key, "%q is not a JSON pointer: it must start with / (e.g. \"/data/e\")", p)
		return
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || p[i+1] != '0' && p[i+1] != '1') {
			ck.add(sc, key, "%q: ~ must be written ~0, and / inside a key ~1", p)
			return
		}
	}
}

// template checks the placeholders of a message template: ${cursor} or ${/json/pointer}.
func (ck *checker) template(sc scope, key, t string) {
	for rest := t; ; {
		i := strings.Index(rest, "${")
		if i < 0 {
			return
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			ck.add(sc, key, "placeholder at %q is not closed with }", rest[i:])
			return
		}
		name := rest[i+2 : i+j]
		if name != "cursor" && !strings.HasPrefix(name, "/") {
			ck.add(sc, key, "placeholder ${%s} is neither ${cursor} nor a JSON pointer such as ${/id}", name)
		}
		if name != "cursor" {
			ck.pointer(sc, key, name)
		}
		rest = rest[i+j+1:]
	}
}
