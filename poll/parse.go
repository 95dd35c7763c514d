package poll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Shapes of a poll response body.
const (
	ShapeAuto     = "auto"     // any of the three below, told apart as Parse describes
	ShapeEnvelope = "envelope" // {"events": [ {...}, ... ], ...other keys ignored}
	ShapeArray    = "array"    // [ {...}, ... ]
	ShapeObject   = "object"   // {...}: one event
)

// Parse splits a poll body into events, each a JSON object whose bytes are copied exactly
// from body (no re-encoding). A null or missing-as-null "events" is no events.
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
// number as its literal. It reports false when event is not an object, the field is
// missing, empty, or another kind of value.
func CursorOf(event []byte, field string) (string, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(event, &fields) != nil {
		return "", false
	}
	v, ok := fields[field]
	if !ok || len(v) == 0 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(v, &s) != nil || s == "" {
			return "", false
		}
		return s, true
	case c == '-' || c >= '0' && c <= '9':
		return string(v), true
	}
	return "", false
}
