package framing

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Placeholder is the string value that a table template (subscribe message, GraphQL
// variables, socket.io auth) replaces with the resume cursor.
const Placeholder = "${cursor}"

// Template is a message written as text with placeholders: ${cursor} is the resume cursor
// (a JSON number or string; null when there is none) and ${/json/pointer} copies that value
// of the frame being answered or acknowledged, as raw JSON.
type Template struct {
	parts    []part
	pointers bool // some placeholder copies a field of the frame
}

type part struct {
	lit    string
	ptr    Pointer // placeholder when non-nil
	cursor bool
}

// ParseTemplate parses s; the errors name the bad placeholder.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{}
	for rest := s; ; {
		i := strings.Index(rest, "${")
		if i < 0 {
			t.parts = append(t.parts, part{lit: rest})
			return t, nil
		}
		t.parts = append(t.parts, part{lit: rest[:i]})
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("template: placeholder at %q is not closed", rest[i:])
		}
		name := rest[i+2 : i+j]
		switch {
		case name == "cursor":
			t.parts = append(t.parts, part{cursor: true})
		default:
			p, err := ParsePointer(name)
			if err != nil || name == "" {
				return nil, fmt.Errorf("template: ${%s} is neither ${cursor} nor a JSON pointer", name)
			}
			t.parts = append(t.parts, part{ptr: p})
			t.pointers = true
		}
		rest = rest[i+j+1:]
	}
}

// Fill renders the template from frame (valid JSON, or nil when there is none) and cursor.
// It reports false when a pointer finds nothing in frame: an ack or answer that cannot be
// filled is not sent.
func (t *Template) Fill(frame []byte, cursor string) ([]byte, bool) {
	if t.pointers && !json.Valid(frame) {
		return nil, false // a plain-text frame has no fields to copy
	}
	var out []byte
	for _, p := range t.parts {
		switch {
		case p.cursor:
			out = append(out, CursorJSON(cursor)...)
		case p.ptr != nil:
			v, ok := p.ptr.Find(frame)
			if !ok {
				return nil, false
			}
			out = append(out, v...)
		default:
			out = append(out, p.lit...)
		}
	}
	return out, true
}

// CursorJSON is the cursor as a JSON value: a number when it is an integer, else a string;
// null when there is none.
func CursorJSON(cursor string) []byte {
	if cursor == "" {
		return []byte("null")
	}
	if _, err := strconv.ParseInt(cursor, 10, 64); err == nil {
		return []byte(cursor)
	}
	b, _ := json.Marshal(cursor)
	return b
}

// CursorValue is the cursor as a value to marshal: an int64 when it is an integer, else the
// string.
func CursorValue(cursor string) any {
	if n, err := strconv.ParseInt(cursor, 10, 64); err == nil {
		return n
	}
	return cursor
}

// FillTable copies v (a TOML table, array or value) with every string equal to Placeholder
// replaced by the cursor. Without a cursor, a member holding it is left out (today's
// behaviour for the top-level subscribe key) and an array element becomes null.
func FillTable(v any, cursor string) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if s, ok := x.(string); ok && s == Placeholder && cursor == "" {
				continue
			}
			out[k] = FillTable(x, cursor)
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = FillTable(x, cursor)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = FillTable(x, cursor)
		}
		return out
	case string:
		if v != Placeholder {
			return v
		}
		if cursor == "" {
			return nil
		}
		return CursorValue(cursor)
	}
	return v
}
