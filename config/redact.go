package config

import (
	"bytes"
	"maps"
	"net/url"
	"strings"

	"github.com/BurntSushi/toml"
)

// Host is the host (and port) of the stream's URL, never its path or query, for
// logs and status. "" when the URL does not parse.
func (s StreamConfig) Host() string {
	u, err := url.Parse(s.URL)
	if err != nil {
		return ""
	}
	return u.Host
}

// Sink returns the sink called name.
func (c *Config) Sink(name string) (SinkConfig, bool) {
	for _, s := range c.Sinks {
		if s.Name == name {
			return s, true
		}
	}
	return SinkConfig{}, false
}

// Redacted is the effective configuration as TOML, for `daemon check`: defaults filled in,
// and secrets replaced by "[redacted]" by where they come from, not only by name: every
// header value but a few standard ones (Accept, User-Agent…), every value of a subscribe
// message, auth payload or variables except structural keys (type, channel, topic…) whose
// names do not look secret, every exec env value, URL query strings, fragments and
// passwords. c is not modified.
func (c *Config) Redacted() string {
	out := *c
	out.Sinks = make([]SinkConfig, len(c.Sinks))
	for i, s := range c.Sinks {
		s.Headers = redactMap(s.Headers)
		s.URL = redactURL(s.URL)
		s.Env = redactAll(s.Env)
		out.Sinks[i] = s
	}
	out.Streams = make([]StreamConfig, len(c.Streams))
	for i, s := range c.Streams {
		s.URL = redactURL(s.URL)
		s.Headers = redactMap(s.Headers)
		subs := make([]SubscribeConfig, len(s.Subscribe))
		for j, sub := range s.Subscribe {
			if sub.Message != nil {
				sub.Message = redactAny(sub.Message).(map[string]any)
			}
			if sub.Variables != nil {
				sub.Variables = redactAny(sub.Variables).(map[string]any)
			}
			subs[j] = sub
		}
		s.Subscribe = subs
		if s.SocketIO.Auth != nil {
			s.SocketIO.Auth = redactAny(s.SocketIO.Auth).(map[string]any)
		}
		if s.GraphQL.InitPayload != nil {
			s.GraphQL.InitPayload = redactAny(s.GraphQL.InitPayload).(map[string]any)
		}
		if s.Fallback != nil {
			fb := *s.Fallback
			fb.PollURL, fb.SendURL = redactURL(fb.PollURL), redactURL(fb.SendURL)
			fb.Headers = redactMap(fb.Headers)
			s.Fallback = &fb
		}
		out.Streams[i] = s
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(out); err != nil {
		return "# encode config: " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
	}
	return b.String()
}

// secretName reports whether a header or field name probably carries a credential.
func secretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "cookie", "token", "key", "secret", "passw", "credential", "session", "signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// plainHeaders are the header names whose values are shown; every other value is hidden,
// since a custom header (X-Signed, X-Customer) may carry a credential under any name.
var plainHeaders = map[string]bool{"accept": true, "accept-encoding": true, "accept-language": true,
	"cache-control": true, "content-type": true, "origin": true, "user-agent": true}

func redactMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k := range out {
		if !plainHeaders[strings.ToLower(k)] {
			out[k] = redacted
		}
	}
	return out
}

// redactAll hides every value of m.
func redactAll(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k := range out {
		out[k] = redacted
	}
	return out
}

// plainFields are the keys of messages sent upstream whose values are shown: they say what
// is subscribed to. Every other value (pass, creds, signature…) is hidden.
var plainFields = map[string]bool{"type": true, "channel": true, "channels": true, "topic": true, "topics": true,
	"event": true, "events": true, "op": true, "action": true, "method": true, "jsonrpc": true, "id": true,
	"stream": true, "streams": true, "subscribe": true, "unsubscribe": true, "name": true}

// redactAny deep-copies decoded TOML, hiding every value except those under plainFields
// keys that do not look secret.
func redactAny(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			if secretName(k) || !plainFields[strings.ToLower(k)] {
				out[k] = redactLeaves(x)
			} else {
				out[k] = redactAny(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redactAny(x)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(v))
		for i, x := range v {
			out[i] = redactAny(x).(map[string]any)
		}
		return out
	}
	return v
}

// redactURL keeps scheme, host and path; query, fragment and password become "[redacted]".
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = redacted, false
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "", ""
		return u.Redacted() + "#" + redacted
	}
	return u.Redacted()
}

// redactLeaves keeps the shape of v (so the output still parses as the same config) and
// hides every scalar in it.
func redactLeaves(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = redactLeaves(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redactLeaves(x)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(v))
		for i, x := range v {
			out[i] = redactLeaves(x).(map[string]any)
		}
		return out
	}
	return redacted
}
