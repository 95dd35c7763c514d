package messages

import "time"

// PollResult is the Poller's outcome of one poll request, sent to the status owner so that
// readiness and status tell a working fallback from a failing one.
type PollResult struct {
	Stream string
	At     time.Time
	Err    string // "" when the request succeeded (a 304 included)
}
