package framing

import (
	"bytes"
	"encoding/json"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/wire"
)

// framer finds the type and cursor of one frame. One is made per reader goroutine: it is not
// safe for concurrent use.
type framer interface {
	// frame returns what the router needs and the bytes to route: data itself, or a plain-text
	// frame quoted as a JSON string so that the envelope stays JSON.
	frame(data []byte) (wire.Frame, []byte)
}

// topLevel is today's framing: a JSON object with a string "type" and the cursor as a
// top-level member, read in one pass by wire.ParseFrameTypes.
type topLevel struct {
	field string
	types wire.Types
}

func (t *topLevel) frame(data []byte) (wire.Frame, []byte) {
	return wire.ParseFrameTypes(data, t.field, &t.types), data
}

// maxNames bounds a pointer framer's interned type names.
const maxNames = 256

// pointers finds the type and cursor by JSON pointer, and routes arrays, untyped objects and
// plain text by the configured rules.
type pointers struct {
	typ, cursor                 Pointer // cursor is nil when no cursor is kept
	arrayType, textType, noType string  // "" = reject
	names                       map[string]string
}

func newFramer(sc config.StreamConfig) (framer, error) {
	if sc.DefaultFraming() {
		return &topLevel{field: sc.Cursor.Field}, nil
	}
	f := sc.Framing
	p := &pointers{arrayType: f.ArrayType, textType: f.TextType, noType: f.UntypedType, names: map[string]string{}}
	var err error
	if p.typ, err = ParsePointer(f.TypePath); err != nil {
		return nil, err
	}
	if cp := sc.CursorPointer(); cp != "" {
		if p.cursor, err = ParsePointer(cp); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *pointers) frame(data []byte) (wire.Frame, []byte) {
	doc := bytes.Trim(data, jsonSpace)
	if !json.Valid(doc) {
		if p.textType == "" {
			return wire.Frame{Invalid: messages.InvalidJSON}, data
		}
		q, _ := json.Marshal(string(data)) // invalid UTF-8 becomes U+FFFD: the envelope stays valid
		return wire.Frame{Type: p.textType}, q
	}
	return p.document(doc), data
}

// document reads a valid JSON document.
func (p *pointers) document(doc []byte) wire.Frame {
	var f wire.Frame
	if p.cursor != nil {
		if v, ok := p.cursor.Find(doc); ok {
			f.Cursor, _ = scalarText(v)
		}
	}
	if v, ok := p.typ.Find(doc); ok {
		if s, ok := p.typeName(v); ok {
			f.Type = s
			return f
		}
	}
	switch {
	case doc[0] == '{' && p.noType != "":
		f.Type = p.noType
	case doc[0] == '[' && p.arrayType != "":
		f.Type = p.arrayType
	case doc[0] != '{' && doc[0] != '[' && p.textType != "": // a bare JSON string or number
		f.Type = p.textType
	case doc[0] == '{':
		f.Invalid = messages.InvalidType
	default:
		f.Invalid = messages.InvalidObject
	}
	return f
}

// typeName is the type a string or number value names, interned so that a feed's few types
// are not allocated for every frame.
func (p *pointers) typeName(v []byte) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v[1:len(v)-1], '\\') < 0 {
		if n, ok := p.names[string(v[1:len(v)-1])]; ok { // the conversion in a lookup does not allocate
			return n, true
		}
	}
	s, ok := scalarText(v)
	if !ok {
		return "", false
	}
	return p.intern(s), true
}

func (p *pointers) intern(s string) string {
	if n, ok := p.names[s]; ok {
		return n
	}
	if len(p.names) < maxNames {
		p.names[s] = s
	}
	return s
}
