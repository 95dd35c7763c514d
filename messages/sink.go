package messages

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
