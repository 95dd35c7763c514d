package wire

import (
	"fmt"
	"strings"
	"testing"
)

// Cursor texts taken through a Types table equal ParseFrame's, and stay what they were while
// the table goes on handing out more of them from shared blocks.
func TestTypesCursorTexts(t *testing.T) {
	var types Types
	var got, want []string
	long := strings.Repeat("9", maxCursorLen+1)
	for i := range 5000 {
		var frame string
		switch i % 4 {
		case 0:
			frame = fmt.Sprintf(`{"type":"a","seq":%d}`, i)
		case 1:
			frame = fmt.Sprintf(`{"type":"a","seq":"id-%d"}`, i)
		case 2:
			frame = fmt.Sprintf(`{"type":"a","seq":"esc\u00e9-%d"}`, i)
		default:
			frame = fmt.Sprintf(`{"type":"a","seq":%s%d}`, long, i)
		}
		data := []byte(frame)
		f := ParseFrameTypes(data, "seq", &types)
		ref := ParseFrame([]byte(frame), "seq")
		if f != ref {
			t.Fatalf("frame %s: got %+v, want %+v", frame, f, ref)
		}
		clear(data) // the frame's bytes may be reused: the cursor must not point into them
		got, want = append(got, f.Cursor), append(want, ref.Cursor)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("cursor %d changed to %q, want %q", i, got[i], want[i])
		}
	}
	data := []byte(`{"type":"a","seq":12345}`)
	if n := testing.AllocsPerRun(100, func() { ParseFrameTypes(data, "seq", &types) }); n != 0 {
		t.Errorf("%v allocations per frame with an interned type and a short cursor, want 0", n)
	}
}
