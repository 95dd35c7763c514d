package messages

// SendPing asks Connection to ping the peer on socket Gen.
type SendPing struct {
	Gen uint64
}

// ConnectionStale tells Connection that socket Gen is dead; Connection fails with Reason.
type ConnectionStale struct {
	Gen    uint64
	Reason string // "heartbeat timeout", "no events"
}

// Resubscribe asks Connection to send its subscriptions again (data-staleness watchdog).
type Resubscribe struct {
	Gen uint64
}
