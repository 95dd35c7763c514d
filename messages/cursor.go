package messages

// CursorValue answers GetCursor: the last cursor seen on the stream ("" when none yet).
type CursorValue struct {
	Value string
}
