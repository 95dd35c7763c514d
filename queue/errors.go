// Package queue keeps a stream's outbound messages: bounded, ordered, optionally durable.
package queue

import "errors"

// Sentinels callers branch on (the control API maps them to HTTP statuses).
var (
	ErrFull      = errors.New("queue full")                  // overflow = reject and no room: 429
	ErrTooLarge  = errors.New("message too large")           // one message larger than max_bytes: 413
	ErrUnknownID = errors.New("no queued item with that id") // Ack of an id that is gone (expired, evicted, acked)
)
