package messages

import "time"

// Event is one routed inbound message as the sinks see it.
type Event struct {
	Stream string
	Type   string
	Offset uint64 // per-stream sequence number assigned by the Router, from 1
	Cursor string // the cursor field's value; "" when the stream has none
	Line   []byte // the envelope JSON, without a trailing newline
	// Buf, when set, is the shared buffer Line points into, and this Event holds one
	// reference to it: whoever is done with Line releases it (see SharedBuf). nil: Line is
	// the Event's own.
	Buf *SharedBuf
}

// Deliver hands an Event to a sink. It travels on the sink's bounded mailbox.
type Deliver struct {
	Event Event
}

// DeliverBatch hands a sink the events of one batch the Router routed to it, in order. It
// counts as len(Events) messages against the sink's bounded mailbox. The events' Lines share
// buffers, each event holding a reference (see Event.Buf).
type DeliverBatch struct {
	Events []Event // owned by the message
}

// EventRouted is what the Router sent where, for one event.
type EventRouted struct {
	Offset uint64
	Cursor string   // the cursor field's value; "" when none
	Sinks  []string // sink names the event went to; shared with the route table, read-only
	Ack    []byte   // acknowledgement due once every sink finished the event; nil when none
	Gen    uint64   // the socket the event came on, for Ack
}

// Routed tells the Cursor actor about routed events, oldest first, so it can checkpoint only
// what every sink has finished. The Router sends them in batches (a message per event cost
// as much as routing the event), at the latest on its once-a-second report.
type Routed struct {
	Events []EventRouted // owned by the message
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
	GapEvents    uint64 // events missing across those jumps; saturates
	CursorResets uint64 // times the numeric cursor went back in a way no replay explains
	LastEventAt  time.Time
	LastCursor   string
	LastParseErr string
}
