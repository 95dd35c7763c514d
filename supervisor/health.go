package supervisor

import (
	"fmt"
	"time"

	"holdfast/messages"
)

// Sink health states as status names them.
const (
	SinkOK        = "ok"        // the last attempt succeeded, or none failed yet
	SinkFailing   = "failing"   // failing, for less than unhealthy_after so far
	SinkUnhealthy = "unhealthy" // failing for longer than unhealthy_after: the stream is not ready
)

// SinkState is what a sink's report means at now.
func SinkState(s messages.SinkStats, now time.Time) string {
	switch {
	case s.FailingSince.IsZero():
		return SinkOK
	case s.UnhealthyAfter > 0 && now.Sub(s.FailingSince) >= s.UnhealthyAfter:
		return SinkUnhealthy
	default:
		return SinkFailing
	}
}

// Readiness decides whether a stream is delivering at now: connected, or polling with the
// last poll request successful, and no sink on its routes failing for longer than its
// unhealthy_after. The reasons name each thing that is not right.
func Readiness(st *messages.StreamStatus, now time.Time) (bool, []string) {
	var why []string
	switch st.State {
	case messages.StateConnected:
	case messages.StatePolling:
		switch {
		case st.Poll.At.IsZero():
			why = append(why, "polling: no poll request has succeeded yet")
		case st.Poll.Err != "":
			why = append(why, fmt.Sprintf("polling: last poll request failed %s ago: %s", age(now, st.Poll.At), st.Poll.Err))
		}
	default:
		r := "stream " + st.State
		if st.LastError != "" {
			r += ": " + st.LastError
		}
		why = append(why, r)
	}
	for _, sk := range st.Sinks {
		if SinkState(sk, now) == SinkUnhealthy {
			why = append(why, fmt.Sprintf("sink %s failing for %s (unhealthy_after %s): %s",
				sk.Sink, age(now, sk.FailingSince), sk.UnhealthyAfter, sk.LastError))
		}
	}
	return len(why) == 0, why
}

// age is now-t rounded for people: "3.2s", "4m10s".
func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
