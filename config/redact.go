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

// Redacted is the effective configuration as TOML, for `daemon check`: defaults
// filled in, header and subscribe values whose names look secret, URL query
// strings, fragments and passwords replaced by "[redacted]". c is not modified.
func (c *Config) Redacted() string {
	out := *c
	out.Sinks = make([]SinkConfig, len(c.Sinks))
	for i, s := range c.Sinks {
		s.Headers = redactMap(s.Headers)
		s.URL = redactURL(s.URL)
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

func redactMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k := range out {
		if secretName(k) {
			out[k] = redacted
		}
	}
	return out
}

// redactAny deep-copies decoded TOML, hiding values under secret-looking keys.
func redactAny(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			if secretName(k) {
				out[k] = redacted
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
