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

// Find returns the raw JSON value at p in doc; false when there is nothing there. doc should
// be valid JSON (json.Valid): Find walks it without checking, skipping every value it does not
// need, and allocates nothing. When a key repeats, the last one wins, as in ParseFrame. The
// value is a sub-slice of doc.
func (p Pointer) Find(doc []byte) ([]byte, bool) {
	cur := bytes.Trim(doc, jsonSpace)
	for _, tok := range p {
		if len(cur) == 0 {
			return nil, false
		}
		var (
			v  []byte
			ok bool
		)
		switch cur[0] {
		case '{':
			v, ok = member(cur, tok)
		case '[':
			v, ok = element(cur, tok)
		}
		if !ok {
			return nil, false
		}
		cur = v
	}
	return cur, len(cur) > 0
}

// member finds the value of key tok in the object obj.
func member(obj []byte, tok string) ([]byte, bool) {
	var found []byte
	i := skipWS(obj, 1)
	if i < len(obj) && obj[i] == '}' {
		return nil, false
	}
	for i < len(obj) {
		kEnd, ok := skipString(obj, i)
		if !ok {
			return nil, false
		}
		key := obj[i:kEnd]
		i = skipWS(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		i = skipWS(obj, i+1)
		vEnd, ok := skipValue(obj, i)
		if !ok {
			return nil, false
		}
		if keyIs(key, tok) {
			found = obj[i:vEnd]
		}
		i = skipWS(obj, vEnd)
		if i >= len(obj) || obj[i] != ',' {
			break // '}'
		}
		i = skipWS(obj, i+1)
	}
	return found, found != nil
}

// element finds element tok (a decimal index without leading zeros) of the array arr.
func element(arr []byte, tok string) ([]byte, bool) {
	n, err := strconv.Atoi(tok)
	if err != nil || n < 0 || (len(tok) > 1 && tok[0] == '0') || tok[0] == '+' {
		return nil, false
	}
	i := skipWS(arr, 1)
	if i < len(arr) && arr[i] == ']' {
		return nil, false
	}
	for k := 0; i < len(arr); k++ {
		end, ok := skipValue(arr, i)
		if !ok {
			return nil, false
		}
		if k == n {
			return arr[i:end], true
		}
		i = skipWS(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			return nil, false
		}
		i = skipWS(arr, i+1)
	}
	return nil, false
}

// keyIs compares a raw key token (with its quotes) to a pointer token.
func keyIs(key []byte, tok string) bool {
	inner := key[1 : len(key)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == tok
	}
	var s string
	return json.Unmarshal(key, &s) == nil && s == tok
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string token at b[i].
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return i, false
}

// skipValue returns the index just past the value at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return i, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j, j > i
}

// scalarText is the text of a string (unquoted) or number (as written) value; false for
// anything else.
func scalarText(raw []byte) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == '"':
		if len(raw) >= 2 && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
			return string(raw[1 : len(raw)-1]), true
		}
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

// jsonSpace is the whitespace JSON allows around values (bytes.TrimSpace trims more).
const jsonSpace = " \t\n\r"
