package messages

// Enqueue asks a stream's Queue to accept outbound messages (each a JSON object). The reply
// is Enqueued. Either all of Messages are accepted or none.
type Enqueue struct {
	Messages [][]byte
}

// Enqueued answers Enqueue. Err is nil or wraps a sentinel such as queue.ErrFull.
type Enqueued struct {
	Depth int
	Err   error
}

// SendOutbound asks Connection (or the Poller, over send_url) to write one queued message.
// The writer answers OutboundWritten or OutboundFailed to the sender.
type SendOutbound struct {
	Gen  uint64
	ID   uint64
	Data []byte
}

// QueueStats is the Queue's state for status and metrics, sent whenever it changes (at most
// once a second under load).
type QueueStats struct {
	Stream  string
	Depth   int
	Bytes   int64
	Dropped uint64
	Expired uint64
	Sent    uint64
}

// QueueMode tells the Queue where to flush: to the socket, to the poller's send_url, or nowhere.
type QueueMode struct {
	Via string // ViaWebSocket, ViaPoll, or "" to hold
}
