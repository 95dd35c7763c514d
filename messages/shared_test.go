package messages

import "testing"

// The last Release, and only it, frees the buffer; more releases than holds panic; Own
// copies the line out and releases its reference.
func TestSharedBufFreesOnTheLastRelease(t *testing.T) {
	freed := 0
	b := NewSharedBuf([]byte("abcdef"), func(*SharedBuf) { freed++ })
	b.Hold()
	b.Hold() // three references: the creator's and two events'
	e := Event{Line: b.B[2:4], Buf: b}
	e.Own()
	if string(e.Line) != "cd" || e.Buf != nil {
		t.Fatalf("after Own: line %q buf %v, want its own copy of \"cd\"", e.Line, e.Buf)
	}
	b.B[2] = 'X'
	if string(e.Line) != "cd" {
		t.Fatalf("the owned line changed with the buffer: %q", e.Line)
	}
	b.Release()
	if freed != 0 {
		t.Fatalf("freed with a reference still held")
	}
	b.Release()
	if freed != 1 {
		t.Fatalf("freed %d times after the last release, want 1", freed)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("a release more than held did not panic")
		}
	}()
	b.Release()
}

func TestSharedBufNilReleaseIsANoOp(t *testing.T) {
	var b *SharedBuf
	b.Release()
	e := Event{Line: []byte("x")}
	e.Own()
	if string(e.Line) != "x" {
		t.Errorf("Own of an owned line changed it: %q", e.Line)
	}
}
