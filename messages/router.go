package messages

import "time"

// Event is one routed inbound message as the sinks see it.
type Event struct {
	Stream string
	Type   string
	Offset uint64 // per-stream sequence number assigned by the Router, from 1
	Line   []byte // the envelope JSON, without a trailing newline
}

// Deliver hands an Event to a sink. It travels on the sink's bounded mailbox.
type Deliver struct {
	Event Event
}

// EventRouted tells the Cursor actor what the Router sent where, so it can checkpoint only
// what every sink has finished.
type EventRouted struct {
	Offset uint64
	Cursor string   // the cursor field's value; "" when none
	Sinks  []string // sink names the event went to
}

// Activity tells Heartbeat that events are flowing on Gen. The Router sends it at most once
// per second, so the data-staleness watchdog and any_frame_alive cost nothing per frame.
type Activity struct {
	Gen uint64
	At  time.Time
}

// RouterStats is the Router's running count, sent to the status owner at most once a second.
type RouterStats struct {
	Stream       string
	EventsIn     uint64
	ParseErrors  uint64
	Duplicates   uint64
	Gaps         uint64 // number of jumps seen in a numeric cursor
	GapEvents    uint64 // events missing across those jumps
	LastEventAt  time.Time
	LastCursor   string
	LastParseErr string
}
