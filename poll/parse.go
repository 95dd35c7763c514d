package poll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Shapes of a poll response body.
const (
	ShapeAuto     = "auto"     // any of the three below, told apart as Parse describes
	ShapeEnvelope = "envelope" // {"events": [ {...}, ... ], ...other keys ignored}
	ShapeArray    = "array"    // [ {...}, ... ]
	ShapeObject   = "object"   // {...}: one event
)

// Parse splits a poll body into events, each a JSON object whose bytes are copied exactly
// from body (no re-encoding). An envelope whose "events" is null has no events.
//
// ShapeAuto picks: an array is ShapeArray; an object with a "type" key is one event; an
// object whose "events" is an array or null is ShapeEnvelope. An event that itself carries
// an "events" array is therefore still one event, and an envelope that carries "type" is
// taken as an event: set the shape explicitly when a feed looks like that.
//
// Errors wrap ErrBody with a short reason and never quote the body.
func Parse(shape string, body []byte) ([][]byte, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBody)
	}
	switch shape {
	case ShapeArray:
		return parseArray(body, "body")
	case ShapeObject:
		if _, err := decodeObject(body); err != nil {
			return nil, err
		}
		return [][]byte{bytes.Clone(body)}, nil
	case ShapeEnvelope:
		fields, err := decodeObject(body)
		if err != nil {
			return nil, err
		}
		return envelope(fields)
	case ShapeAuto:
	default:
		return nil, fmt.Errorf("parse: unknown shape %q", shape)
	}

	if body[0] == '[' {
		return parseArray(body, "body")
	}
	fields, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	if _, ok := fields["type"]; ok {
		return [][]byte{bytes.Clone(body)}, nil
	}
	if ev, ok := fields["events"]; ok && (ev[0] == '[' || string(ev) == "null") {
		return envelope(fields)
	}
	return nil, fmt.Errorf("%w: object has neither \"type\" nor an \"events\" array", ErrBody)
}

// parseArray splits a JSON array whose elements must all be objects.
func parseArray(data []byte, what string) ([][]byte, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, decodeErr(what, "an array", err)
	}
	if raw == nil { // null
		return nil, fmt.Errorf("%w: %s is not an array", ErrBody, what)
	}
	events := make([][]byte, 0, len(raw))
	for i, ev := range raw {
		if ev[0] != '{' { // RawMessage holds one valid value without surrounding space
			return nil, fmt.Errorf("%w: element %d is not an object", ErrBody, i)
		}
		events = append(events, ev)
	}
	return events, nil
}

func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, decodeErr("body", "an object", err)
	}
	if fields == nil { // null
		return nil, fmt.Errorf("%w: body is not an object", ErrBody)
	}
	return fields, nil
}

func envelope(fields map[string]json.RawMessage) ([][]byte, error) {
	ev, ok := fields["events"]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: envelope has no \"events\"", ErrBody)
	case string(ev) == "null":
		return nil, nil
	case ev[0] != '[':
		return nil, fmt.Errorf("%w: \"events\" is not an array", ErrBody)
	}
	return parseArray(ev, "events")
}

// decodeErr says why data is unusable without quoting it: Unmarshal checks the syntax of
// the whole input before it reports a wrong type.
func decodeErr(what, want string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %s is not JSON (offset %d)", ErrBody, what, se.Offset)
	}
	return fmt.Errorf("%w: %s is not %s", ErrBody, what, want)
}

// CursorOf returns the top-level field of a raw JSON object as text: a string unquoted, a
// number as its literal. It reports false when event is not a valid JSON object, or the
// field is missing, an empty string, or another kind of value. A repeated key counts by its
// last occurrence, as with encoding/json.
//
// The router calls it for every event, so it scans the bytes instead of decoding a map:
// json.Valid first, after which the scan can trust the syntax.
func CursorOf(event []byte, field string) (string, bool) {
	if !json.Valid(event) {
		return "", false
	}
	i := skipSpace(event, 0)
	if event[i] != '{' {
		return "", false
	}
	var val []byte
	for i = skipSpace(event, i+1); event[i] != '}'; {
		end := stringEnd(event, i)
		key := event[i:end]
		i = skipSpace(event, skipSpace(event, end)+1) // past ':'
		vend := valueEnd(event, i)
		if keyIs(key, field) {
			val = event[i:vend]
		}
		if i = skipSpace(event, vend); event[i] == ',' {
			i = skipSpace(event, i+1)
		}
	}
	switch {
	case len(val) == 0:
		return "", false
	case val[0] == '"':
		s := unquote(val)
		return s, s != ""
	case val[0] == '-' || val[0] >= '0' && val[0] <= '9':
		return string(val), true
	}
	return "", false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// valueEnd returns the index just past the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[i])) {
		i++
	}
	return i
}

// keyIs reports whether the string literal q decodes to field, without allocating for
// plain ASCII keys.
func keyIs(q []byte, field string) bool {
	if inner := q[1 : len(q)-1]; plain(inner) {
		return string(inner) == field
	}
	return unquote(q) == field
}

// unquote decodes a JSON string literal. Escapes and non-ASCII go through encoding/json so
// invalid UTF-8 is replaced exactly as a full decode would.
func unquote(q []byte) string {
	if inner := q[1 : len(q)-1]; plain(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(q, &s) // q is a valid literal: cannot fail
	return s
}

// plain reports whether b is ASCII without escapes, so its bytes are its text.
func plain(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
