package supervisor

import (
	"testing"
	"time"
)

func TestClusterReleaseFitsTheShutdownTimeout(t *testing.T) {
	for _, tt := range []struct {
		name              string
		shutdown, stopped time.Duration
		want              time.Duration
	}{
		{"capped at 2s", 20 * time.Second, time.Second, 2 * time.Second},
		{"a quarter of shutdown_timeout", 4 * time.Second, 0, time.Second},
		{"what is left less the margin", 10 * time.Second, 8 * time.Second, 1500 * time.Millisecond},
		{"margin is a tenth of a short timeout", 2 * time.Second, 1500 * time.Millisecond, 300 * time.Millisecond},
		{"nothing left: the floor, every delete fails fast", 5 * time.Second, 6 * time.Second, 50 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := clusterRelease(tt.shutdown, tt.stopped); got != tt.want {
				t.Errorf("clusterRelease(%v, %v) = %v, want %v", tt.shutdown, tt.stopped, got, tt.want)
			}
		})
	}
}
