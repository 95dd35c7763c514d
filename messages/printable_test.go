package messages

import "testing"

func TestPrintable(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text, ünïcode", "plain text, ünïcode"},
		{"close \x1b[2J\x1b[31mred", `close \x1b[2J\x1b[31mred`},
		{"line\r\nforged", `line\x0d\x0aforged`},
		{"c1 \u009b and bad \xff", `c1 \u009b and bad \xff`},
	} {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
