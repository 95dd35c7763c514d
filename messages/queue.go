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
// Connection answers OutboundConfirmed once the link showed life after the write, the Poller
// OutboundWritten on a 2xx; both answer OutboundFailed when the write failed.
type SendOutbound struct {
	Gen  uint64
	ID   uint64
	Data []byte
}

// QueueStats is the Queue's state for status and metrics, sent whenever it changes (at most
// once a second under load).
type QueueStats struct {
	Stream      string
	Depth       int
	Bytes       int64
	Dropped     uint64
	Expired     uint64
	Sent        uint64 // confirmed: the peer showed it got them
	Unconfirmed int    // handed to the transport, awaiting confirmation; counted in Depth
}

// DrainQueue asks the Queue, at shutdown, to answer QueueDrained once every queued message is
// confirmed, or at once when there is no transport to drain to (or when the link goes down).
type DrainQueue struct{}

// QueueDrained answers DrainQueue with what is still queued.
type QueueDrained struct {
	Depth int
}

// QueueMode tells the Queue where to flush: to the socket, to the poller's send_url, or nowhere.
type QueueMode struct {
	Via string // ViaWebSocket, ViaPoll, or "" to hold
}
