package messages

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Reasons a frame is not routed; they double as the parse_errors metric label.
const (
	InvalidBinary  = "binary frame"
	InvalidJSON    = "not JSON"
	InvalidObject  = "not an object"
	InvalidType    = "no string type"
	InvalidTooLong = "frame too large"
)

// Frame is what the reader learns from one inbound text frame.
type Frame struct {
	Type    string
	Cursor  string // literal text of the cursor field (numbers as written, strings unquoted)
	Invalid string // "" when the frame is a JSON object with a string type
}

// ParseFrame checks that data is one JSON object with a string "type" and picks out the type
// and, when cursorField is set, that field's value. It looks only at top-level keys and never
// allocates for plain ASCII keys.
func ParseFrame(data []byte, cursorField string) Frame {
	if !json.Valid(data) {
		return Frame{Invalid: InvalidJSON}
	}
	s := scanner{b: data}
	s.space()
	if !s.eat('{') {
		return Frame{Invalid: InvalidObject}
	}
	var f Frame
	haveType := false
	for {
		s.space()
		if s.eat('}') {
			break
		}
		key := s.str()
		s.space()
		s.eat(':')
		s.space()
		start := s.i
		s.value()
		val := data[start:s.i]
		switch {
		case bytes.Equal(key, []byte("type")):
			if len(val) == 0 || val[0] != '"' {
				return Frame{Invalid: InvalidType}
			}
			f.Type, haveType = unquote(val), true
		case cursorField != "" && string(key) == cursorField:
			if val[0] == '"' {
				f.Cursor = unquote(val)
			} else if val[0] == '-' || (val[0] >= '0' && val[0] <= '9') {
				f.Cursor = string(val)
			}
		}
		s.space()
		s.eat(',')
	}
	if !haveType {
		return Frame{Invalid: InvalidType}
	}
	return f
}

// AppendEnvelope appends the sink envelope for one event to dst:
// {"stream":…,"type":…,"via":…,"received_at":"<RFC3339Nano UTC>","message":<msg>}.
// msg is embedded byte for byte unless it spans lines, in which case it is compacted so
// that each envelope stays one NDJSON line.
func AppendEnvelope(dst []byte, stream, typ, via string, at time.Time, msg []byte) []byte {
	dst = append(dst, `{"stream":`...)
	dst = appendString(dst, stream)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, typ)
	dst = append(dst, `,"via":`...)
	dst = appendString(dst, via)
	dst = append(dst, `,"received_at":"`...)
	dst = at.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","message":`...)
	if bytes.IndexByte(msg, '\n') >= 0 || bytes.IndexByte(msg, '\r') >= 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, msg) == nil {
			msg = buf.Bytes()
		}
	}
	dst = append(dst, msg...)
	return append(dst, '}')
}

// AppendRejected appends the dead-letter line for a frame that could not be routed. The frame
// is carried as a JSON string (valid UTF-8) or base64 (binary or invalid UTF-8).
func AppendRejected(dst []byte, stream, reason, via string, at time.Time, frame []byte) []byte {
	dst = append(dst, `{"stream":`...)
	dst = appendString(dst, stream)
	dst = append(dst, `,"rejected":`...)
	dst = appendString(dst, reason)
	dst = append(dst, `,"via":`...)
	dst = appendString(dst, via)
	dst = append(dst, `,"received_at":"`...)
	dst = at.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if reason != InvalidBinary && utf8.Valid(frame) {
		dst = append(dst, `,"frame":`...)
		dst = appendString(dst, string(frame))
	} else {
		b, _ := json.Marshal(frame) // []byte marshals as base64
		dst = append(dst, `,"frame_base64":`...)
		dst = append(dst, b...)
	}
	return append(dst, '}')
}

func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// unquote decodes a JSON string token that json.Valid already accepted.
func unquote(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	if s, err := strconv.Unquote(string(tok)); err == nil {
		return s
	}
	var s string
	_ = json.Unmarshal(tok, &s) // valid JSON string: cannot fail
	return s
}

// scanner walks JSON that json.Valid has accepted, so it does not re-check syntax.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string token and returns its raw contents (escapes left as written).
func (s *scanner) str() []byte {
	start := s.i
	s.i++ // opening quote
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return s.b[start+1 : s.i-1]
		}
		s.i++
	}
	return s.b[start+1:]
}

// value consumes one value of any kind.
func (s *scanner) value() {
	if s.i >= len(s.b) {
		return
	}
	switch s.b[s.i] {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return
				}
			}
			s.i++
		}
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}
