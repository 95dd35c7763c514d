package config

import "strings"

// HasCursor reports whether the stream keeps a resume cursor: cursor.field or
// framing.cursor_path is set.
func (s StreamConfig) HasCursor() bool {
	return s.Cursor.Field != "" || s.Framing.CursorPath != ""
}

// CursorPointer is where the cursor is in a frame, as a JSON pointer: framing.cursor_path,
// else the top-level cursor.field; "" when the stream keeps no cursor.
func (s StreamConfig) CursorPointer() string {
	switch {
	case s.Framing.CursorPath != "":
		return s.Framing.CursorPath
	case s.Cursor.Field != "":
		return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(s.Cursor.Field)
	}
	return ""
}

// Acks reports whether events are acknowledged once their sinks have taken them: an
// [stream.ack] message, or socket.io, whose events may ask for an ack.
func (s StreamConfig) Acks() bool {
	return s.Ack.Message != "" || s.Protocol == "socket.io"
}

// DefaultFraming reports whether frames are read as today's top-level {"type", <cursor.field>}
// objects, which the reader parses on its fast path.
func (s StreamConfig) DefaultFraming() bool {
	f := s.Framing
	return s.Protocol == DefaultProtocol && f.TypePath == DefaultTypePath && f.CursorPath == "" &&
		f.ArrayType == "" && f.TextType == "" && f.UntypedType == ""
}
