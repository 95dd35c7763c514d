package supervisor

import (
	"strings"
	"testing"
	"time"

	"holdfast/messages"
)

func TestReadiness(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	sink := func(name string, failingFor, unhealthyAfter time.Duration) messages.SinkStats {
		s := messages.SinkStats{Sink: name, UnhealthyAfter: unhealthyAfter, LastError: "post: status 400"}
		if failingFor > 0 {
			s.FailingSince = now.Add(-failingFor)
		}
		return s
	}
	for _, tt := range []struct {
		name  string
		row   messages.StreamStatus
		ready bool
		why   []string // substrings, one per expected reason
	}{
		{"connected, sinks writing", messages.StreamStatus{StreamState: messages.StreamState{State: "connected"},
			Sinks: []messages.SinkStats{sink("out", 0, time.Minute)}}, true, nil},
		{"sink failing, not yet for unhealthy_after", messages.StreamStatus{StreamState: messages.StreamState{State: "connected"},
			Sinks: []messages.SinkStats{sink("hook", 59*time.Second, time.Minute)}}, true, nil},
		{"sink failing past unhealthy_after", messages.StreamStatus{StreamState: messages.StreamState{State: "connected"},
			Sinks: []messages.SinkStats{sink("out", 0, time.Minute), sink("hook", time.Minute, time.Minute)}},
			false, []string{"sink hook failing for 1m0s (unhealthy_after 1m0s): post: status 400"}},
		{"unhealthy_after 0 never fails readiness", messages.StreamStatus{StreamState: messages.StreamState{State: "connected"},
			Sinks: []messages.SinkStats{sink("hook", time.Hour, 0)}}, true, nil},
		{"backoff", messages.StreamStatus{StreamState: messages.StreamState{State: "backoff", LastError: "dial: refused"}},
			false, []string{"stream backoff: dial: refused"}},
		{"polling, none answered yet", messages.StreamStatus{StreamState: messages.StreamState{State: "polling"}},
			false, []string{"no poll request has succeeded yet"}},
		{"polling, last poll failed", messages.StreamStatus{StreamState: messages.StreamState{State: "polling"},
			Poll: messages.PollResult{At: now.Add(-2 * time.Second), Err: "status 500"}},
			false, []string{"last poll request failed 2s ago: status 500"}},
		{"polling successfully", messages.StreamStatus{StreamState: messages.StreamState{State: "polling"},
			Poll: messages.PollResult{At: now.Add(-time.Second)}}, true, nil},
		{"both a dead link and a sink", messages.StreamStatus{StreamState: messages.StreamState{State: "failed"},
			Sinks: []messages.SinkStats{sink("hook", 2*time.Minute, time.Minute)}}, false, []string{"stream failed", "sink hook"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ready, why := Readiness(&tt.row, now)
			if ready != tt.ready || len(why) != len(tt.why) {
				t.Fatalf("Readiness(%+v) = %v %q, want %v with %d reasons", tt.row, ready, why, tt.ready, len(tt.why))
			}
			for i, w := range tt.why {
				if !strings.Contains(why[i], w) {
					t.Errorf("reason %d = %q, want it to contain %q", i, why[i], w)
				}
			}
		})
	}
}
