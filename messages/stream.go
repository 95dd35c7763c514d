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
	LastErrorAt time.Time // when LastError happened; zero when none
	RetryIn     time.Duration
}

// GetStatus asks the daemon root for every stream's status; the reply is Status.
type GetStatus struct{}

// StreamStatus is one stream's row in Status.
type StreamStatus struct {
	StreamState
	Queue    QueueStats
	Router   RouterStats
	Poll     PollResult  // the last poll request's outcome; zero At before the first
	Sinks    []SinkStats // sorted by sink name
	Ready    bool        // delivering: see supervisor.Readiness
	NotReady []string    // why not, one reason each; empty when Ready
	Owner    string      // cluster mode: the instance running the stream; "" otherwise
}

// Status answers GetStatus.
type Status struct {
	Now     time.Time // when the snapshot was taken, for ages
	Streams []StreamStatus
	Cluster *ClusterState // nil outside cluster mode
}
