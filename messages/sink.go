package messages

import "time"

// SinkDone tells the Cursor actor that sink Sink has finished (flushed, delivered or
// dead-lettered) every event it was given with Offset <= UpTo.
type SinkDone struct {
	Sink string
	UpTo uint64
}

// DeadLetter carries an event that a sink could not deliver to that sink's dead-letter sink.
type DeadLetter struct {
	Event    Event
	From     string // the sink that gave up
	Reason   string
	Attempts int
}

// Reopen asks a file sink to close and reopen its file (logrotate, SIGHUP).
type Reopen struct{}

// SinkStats is one (stream, sink) pair's health and counters. The sink sends it to the
// status owner when it starts, when it starts or stops failing, and at most once a second
// while its counters move.
type SinkStats struct {
	Stream         string
	Sink           string
	Kind           string
	UnhealthyAfter time.Duration // failing longer than this makes the stream not ready; 0 = never
	FailingSince   time.Time     // first failure since the last success; zero while writing
	LastError      string        // "" before the first failure
	LastErrorAt    time.Time
	Delivered      uint64 // events finished (written, flushed or delivered)
	Retries        uint64 // failed attempts that were retried
	DeadLettered   uint64 // events given up on (dead-lettered, or dropped without a dead-letter sink)
	Backlog        int    // events accepted and not yet finished
	Reconnects     uint64 // reconnects of the sink's own connection (nats)
	State          string // ok|failing|unhealthy: set by the status owner in its snapshot
}
