// Package framing reads the frames of feeds that do not speak holdfast's default
// {"type":…,"seq":…} protocol, and writes what such feeds expect: the type and cursor found by
// JSON pointer, plain-text and array frames, message templates, and the graphql-transport-ws
// and socket.io protocols. The Connection's reader picks one Decoder per socket; the default
// framing keeps the single-pass scanner of package messages.
package framing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Pointer is a parsed JSON pointer (RFC 6901); the empty pointer is the whole document.
type Pointer []string

// ParsePointer parses "/a/b~1c/0". "" is the whole document.
func ParsePointer(s string) (Pointer, error) {
	if s == "" {
		return Pointer{}, nil
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("json pointer %q must start with /", s)
	}
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		if strings.Contains(strings.NewReplacer("~0", "", "~1", "").Replace(p), "~") {
			return nil, fmt.Errorf("json pointer %q: ~ must be written ~0", s)
		}
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(p)
	}
	return Pointer(parts), nil
}

// Find returns the raw JSON value at p in doc, which must be valid JSON; false when there is
// nothing there. The value is a sub-slice of doc.
func (p Pointer) Find(doc []byte) ([]byte, bool) {
	cur := bytes.TrimSpace(doc)
	for _, tok := range p {
		if len(cur) == 0 {
			return nil, false
		}
		switch cur[0] {
		case '{':
			var m map[string]json.RawMessage
			if json.Unmarshal(cur, &m) != nil {
				return nil, false
			}
			v, ok := m[tok]
			if !ok {
				return nil, false
			}
			cur = bytes.TrimSpace(v)
		case '[':
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			var a []json.RawMessage
			if json.Unmarshal(cur, &a) != nil || n >= len(a) {
				return nil, false
			}
			cur = bytes.TrimSpace(a[n])
		default:
			return nil, false
		}
	}
	return cur, len(cur) > 0
}

// scalarText is the text of a string (unquoted) or number (as written) value; false for
// anything else.
func scalarText(raw []byte) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case c == '-' || '0' <= c && c <= '9':
		return string(raw), true
	}
	return "", false
}
