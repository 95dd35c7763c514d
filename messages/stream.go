package messages

import "time"

// Stream states as status, logs and metrics name them.
const (
	StateConnecting = "connecting"
	StateConnected  = "connected"
	StateBackoff    = "backoff"
	StatePolling    = "polling"
	StateAuthFailed = "auth_failed"
	StateFailed     = "failed"
	StateStopped    = "stopped"
)

// StreamState is sent by a Stream supervisor to the status owner on every state change.
type StreamState struct {
	Stream      string
	State       string
	Via         string // transport events currently arrive by; "" when none
	Attempt     int
	MaxAttempts int
	Since       time.Time
	LastError   string
	RetryIn     time.Duration
}

// GetStatus asks the daemon root for every stream's status; the reply is Status.
type GetStatus struct{}

// StreamStatus is one stream's row in Status.
type StreamStatus struct {
	StreamState
	Queue  QueueStats
	Router RouterStats
}

// Status answers GetStatus.
type Status struct {
	Streams []StreamStatus
}
