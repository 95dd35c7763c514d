package actors

import (
	"math"
	"testing"
)

func TestProbePayload(t *testing.T) {
	if got, ok := parseProbe(string(probe(math.MaxUint64))); !ok || got != math.MaxUint64 {
		t.Errorf("parseProbe(probe(max)) = %d, %v; want the id back", got, ok)
	}
	for _, tt := range []struct {
		name, data string
		id         uint64
		ok         bool
	}{
		{"a probe", "holdfast-out:42", 42, true},
		{"a heartbeat pong has no payload", "", 0, false},
		{"someone else's payload", "42", 0, false},
		{"the prefix without an id", "holdfast-out:", 0, false},
		{"not a number", "holdfast-out:4x", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if id, ok := parseProbe(tt.data); id != tt.id || ok != tt.ok {
				t.Errorf("parseProbe(%q) = %d, %v; want %d, %v", tt.data, id, ok, tt.id, tt.ok)
			}
		})
	}
}
