package messages

import "time"

// RunStream is sent by the Cluster actor to the daemon root when this instance took the
// stream's lease: the root starts it as on a reload. Cluster mode only.
type RunStream struct {
	Stream string
	Epoch  uint64 // the lease's revision when taken
}

// StopStream is sent by the Cluster actor to the daemon root to stop a stream it no longer
// owns (lease lost, self-fenced, or handed over). The root answers StreamStopped once the
// stream's subtree has stopped (its sinks flushed, its cursor saved).
type StopStream struct {
	Stream string
}

// StreamStopped answers StopStream.
type StreamStopped struct {
	Stream string
}

// ClusterStreams is sent by the root to the Cluster actor after a reload: the configured
// streams, sorted.
type ClusterStreams struct {
	Streams []string
}

// ReleaseLeases is sent (as a request) by the daemon root to the Cluster actor at a graceful
// stop, once every stream it could stop has stopped: the Cluster actor stops taking and
// running streams, deletes the lease of each stopped stream whose final checkpoint covers
// everything it routed (the others expire), withdraws the member key, and answers
// LeasesReleased. Every NATS call of it finishes within Timeout.
type ReleaseLeases struct {
	Running []string // streams whose stop did not finish: their leases are kept
	Timeout time.Duration
}

// LeasesReleased answers ReleaseLeases.
type LeasesReleased struct {
	Released []string // leases deleted, sorted
	Kept     []string // leases left to expire, sorted: not covered, still running, or the delete failed
}

// Cluster states as status names them.
const (
	ClusterConnecting   = "connecting"
	ClusterConnected    = "connected"
	ClusterDisconnected = "disconnected" // the client is reconnecting; leases fence at ttl×2/3
)

// StreamOwner is one stream's lease as the last scan saw it.
type StreamOwner struct {
	Stream string
	Owner  string // "" when nobody holds it
	Epoch  uint64 // revision at which the owner took it; 0 when unknown
}

// ClusterState is sent by the Cluster actor to the status owner whenever it changes.
type ClusterState struct {
	Instance   string
	State      string // ClusterConnecting | ClusterConnected | ClusterDisconnected
	Live       []string
	Owners     []StreamOwner // every configured stream, sorted by name
	LastError  string
	Warnings   []string  // e.g. a duplicate window shorter than the longest replay
	LastScanAt time.Time // zero before the first scan
}
