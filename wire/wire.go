// Package wire is the JSON codec of the default framing: ParseFrame checks an inbound frame
// and picks out its type and cursor in one pass, and AppendEnvelope and AppendRejected write
// the line sinks receive. It holds no state and starts no goroutine.
package wire

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
	"unsafe"

	"holdfast/messages"
)

// Frame is what the reader learns from one inbound text frame.
type Frame struct {
	Type    string
	Cursor  string // literal text of the cursor field (numbers as written, strings unquoted)
	Invalid string // "" when the frame is a JSON object with a string type
}

// ParseFrame checks that data is one JSON object with a string "type" and picks out the type
// and, when cursorField is set, that field's value. It accepts exactly what json.Valid
// accepts, in a single pass that notes the top-level members on the way. Keys are compared as
// written (an escaped "ty\u0070e" is not "type"). When a key repeats, any non-string "type"
// rejects the frame, and otherwise the last string "type" and the last string or number
// cursor win. It allocates only the Type and Cursor strings, and nothing for a rejected frame
// nested fewer than 64 levels.
func ParseFrame(data []byte, cursorField string) Frame {
	return ParseFrameTypes(data, cursorField, nil)
}

// A Types table holds at most maxTypes names of at most maxTypeLen bytes each: a feed
// inventing type names, or sending huge ones, gets fresh strings instead, so the table stays
// under maxTypes*maxTypeLen bytes.
const (
	maxTypes   = 256
	maxTypeLen = 128
)

// Types interns event type names for one reader, so the same few strings are not allocated
// for every frame, and keeps the reader's cursor texts in shared blocks. The zero value is
// ready; it is not safe for concurrent use.
type Types struct {
	names  map[string]string
	last   string // the name returned last: feeds repeat a type far more often than not
	blocks []byte // cursor texts, appended and never changed; see cursor
}

// Cursor texts up to maxCursorLen bytes are copied into blocks of cursorBlock bytes.
const (
	cursorBlock  = 4096
	maxCursorLen = 64
)

// cursor returns a cursor token's text: a number as written, a string unquoted. Every
// cursor differs, so interning cannot help; instead short texts are copied into a shared
// block that is only ever appended to, and the string points into it. That is one
// allocation per cursorBlock bytes instead of one per frame. A string kept alive keeps its
// block (4 KiB) alive.
func (t *Types) cursor(tok []byte) string {
	if tok[0] == '"' {
		if bytes.IndexByte(tok, '\\') >= 0 {
			return unquote(tok)
		}
		tok = tok[1 : len(tok)-1]
	}
	if t == nil || len(tok) == 0 || len(tok) > maxCursorLen {
		return string(tok)
	}
	if cap(t.blocks)-len(t.blocks) < len(tok) {
		t.blocks = make([]byte, 0, cursorBlock)
	}
	start := len(t.blocks)
	t.blocks = append(t.blocks, tok...)
	return unsafe.String(&t.blocks[start], len(tok)) // those bytes are never written again
}

func (t *Types) name(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if t != nil && string(inner) == t.last { // compared without a hash; no allocation either
		return t.last // last holds no escape: it came through the test below
	}
	if t == nil || len(inner) > maxTypeLen || bytes.IndexByte(inner, '\\') >= 0 {
		return unquote(tok)
	}
	if s, ok := t.names[string(inner)]; ok { // the conversion in a lookup does not allocate
		t.last = s
		return s
	}
	s := string(inner)
	if t.names == nil {
		t.names = map[string]string{}
	}
	if len(t.names) < maxTypes {
		t.names[s] = s
		t.last = s
	}
	return s
}

// ParseFrameTypes is ParseFrame taking type names from types (nil: no interning).
func ParseFrameTypes(data []byte, cursorField string, types *Types) Frame {
	b := data
	invalid := Frame{Invalid: messages.InvalidJSON}
	i := skipSpace(b, 0)
	if i >= len(b) {
		return invalid
	}
	if b[i] != '{' { // JSON, perhaps, but not an object
		end, ok := skipValue(b, i, maxDepth)
		if !ok || skipSpace(b, end) != len(b) {
			return invalid
		}
		return Frame{Invalid: messages.InvalidObject}
	}
	// The members of the top-level object, in a loop of their own: strings and numbers, the
	// usual values, are scanned here; nested values go to skipValue.
	var (
		typeTok, cursorTok []byte // last "type" (a string) and cursor (string or number)
		badType            bool   // some "type" is not a string
	)
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			key, start, ok := objectKey(b, i)
			if !ok || start >= len(b) {
				return invalid
			}
			switch c := b[start]; {
			case c == '"':
				i, ok = scanString(b, start)
			case c == '-' || '0' <= c && c <= '9':
				i, ok = scanNumber(b, start)
			default:
				i, ok = skipValue(b, start, maxDepth-1) // the object itself is one level
			}
			if !ok {
				return invalid
			}
			switch val := b[start:i]; {
			case string(key) == "type":
				if val[0] == '"' {
					typeTok = val
				} else {
					badType = true
				}
			case cursorField != "" && string(key) == cursorField:
				if val[0] == '"' || val[0] == '-' || '0' <= val[0] && val[0] <= '9' {
					cursorTok = val
				}
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return invalid
			}
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if b[i] != '}' {
				return invalid
			}
			i++
			break
		}
	}
	switch {
	case skipSpace(b, i) != len(b):
		return invalid
	case badType || typeTok == nil:
		return Frame{Invalid: messages.InvalidType}
	}
	f := Frame{Type: types.name(typeTok)}
	if cursorTok != nil {
		f.Cursor = types.cursor(cursorTok)
	}
	return f
}

// AppendEnvelope appends the sink envelope for one event to dst:
// {"stream":…,"type":…,"via":…,"received_at":"<RFC3339Nano UTC>","message":<msg>}.
// msg is embedded byte for byte unless it spans lines, in which case it is compacted so
// that each envelope stays one NDJSON line.
func AppendEnvelope(dst []byte, stream, typ, via string, at time.Time, msg []byte) []byte {
	var buf [len(time.RFC3339Nano) + 8]byte
	return AppendEnvelopeStamped(dst, stream, typ, via, AppendTime(buf[:0], at), msg)
}

// AppendTime appends t as envelopes carry it in received_at: RFC 3339 in UTC, with as many
// fractional digits as it needs.
func AppendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}

// AppendEnvelopeStamped is AppendEnvelope with received_at already formatted by AppendTime:
// frames read together share one time, and formatting it once saves a tenth of the work.
func AppendEnvelopeStamped(dst []byte, stream, typ, via string, stamp, msg []byte) []byte {
	return AppendEnvelopeRest(AppendEnvelopeHead(dst, stream, typ, via), stamp, msg)
}

// AppendEnvelopeHead appends what an envelope starts with, the same for every event of one
// stream, type and path: `{"stream":…,"type":…,"via":…,"received_at":"`. A caller that
// keeps it per type appends it and then AppendEnvelopeRest, and escapes no name per event.
func AppendEnvelopeHead(dst []byte, stream, typ, via string) []byte {
	dst = append(dst, `{"stream":`...)
	dst = appendString(dst, stream)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, typ)
	dst = append(dst, `,"via":`...)
	dst = appendString(dst, via)
	return append(dst, `,"received_at":"`...)
}

// EnvelopeRestMax is the most AppendEnvelopeRest appends besides stamp and msg.
const EnvelopeRestMax = len(`","message":}`)

// AppendEnvelopeRest appends the rest of an envelope after its head: the stamp and the
// message, compacted when it holds a line break so that the event stays on one line. It
// never appends more than len(stamp)+len(msg)+EnvelopeRestMax bytes.
func AppendEnvelopeRest(dst []byte, stamp, msg []byte) []byte {
	dst = append(dst, stamp...)
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
	if reason != messages.InvalidBinary && utf8.Valid(frame) {
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
