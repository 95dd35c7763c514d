// Package control is holdfast's local HTTP control API (status, send, health, readiness,
// metrics) and the client the CLI uses to call it.
package control

import (
	"cmp"
	"slices"
	"time"

	"holdfast/messages"
)

// The wire format below is the API's contract: explicit structs with snake_case tags, so
// renaming a field in messages never changes what scripts see.

// StatusResponse is the body of GET /v1/streams. Streams are sorted by name.
type StatusResponse struct {
	Time    *time.Time     `json:"time,omitempty"` // when the daemon took the snapshot; ages count from it
	Streams []StreamStatus `json:"streams"`
	Cluster *ClusterStatus `json:"cluster,omitempty"` // cluster mode only
}

// ClusterStatus is this instance's view of the cluster: streams lists every configured
// stream with the instance holding its lease ("" when free); Streams above lists only those
// running here.
type ClusterStatus struct {
	Instance  string          `json:"instance"`
	State     string          `json:"state"` // connecting|connected|disconnected
	Live      []string        `json:"live_instances"`
	Streams   []ClusterStream `json:"streams"`
	LastError string          `json:"last_error"`
	Warnings  []string        `json:"warnings,omitempty"`
}

// ClusterStream is one stream's lease.
type ClusterStream struct {
	Name  string `json:"name"`
	Owner string `json:"owner"` // "" while free
	Epoch uint64 `json:"epoch,omitempty"`
}

// ReadyResponse is the body of GET /readyz, 200 or 503.
type ReadyResponse struct {
	Ready    bool          `json:"ready"`
	Draining bool          `json:"draining,omitempty"` // shutting down: nothing is ready
	NotReady []NotReadyRow `json:"not_ready"`          // one entry per stream that is not ready
	Error    string        `json:"error,omitempty"`    // status could not be read
}

// NotReadyRow names a stream that is not ready and why.
type NotReadyRow struct {
	Stream  string   `json:"stream"`
	State   string   `json:"state"`
	Reasons []string `json:"reasons"`
}

// SinkStatus is one sink of a stream (each stream has its own copy of a sink).
type SinkStatus struct {
	Name           string     `json:"name"`
	Kind           string     `json:"kind"`
	State          string     `json:"state"`                   // ok|failing|unhealthy
	FailingSince   *time.Time `json:"failing_since,omitempty"` // absent while writing
	UnhealthyAfter string     `json:"unhealthy_after"`         // as a Go duration; "0s" = never
	LastError      string     `json:"last_error"`              // "" before the first failure
	LastErrorAt    *time.Time `json:"last_error_at,omitempty"`
	Delivered      uint64     `json:"delivered"`     // events written, flushed or delivered
	Retries        uint64     `json:"retries"`       // failed attempts that were retried
	DeadLettered   uint64     `json:"dead_lettered"` // events given up on
	Backlog        int        `json:"backlog"`       // events accepted and not yet finished
	Reconnects     uint64     `json:"reconnects"`    // reconnects of the sink's own connection (nats)
}

// StreamStatus is one stream in StatusResponse.
type StreamStatus struct {
	Name        string      `json:"name"`
	State       string      `json:"state"`                   // connecting|connected|backoff|polling|auth_failed|failed|stopped
	Ready       bool        `json:"ready"`                   // delivering: connected or polling successfully, no sink unhealthy
	NotReady    []string    `json:"not_ready,omitempty"`     // why not
	Via         string      `json:"via"`                     // websocket|poll, or "" when events arrive by neither
	Attempt     int         `json:"attempt"`                 // reconnect attempts since the link was last stable
	MaxAttempts int         `json:"max_attempts"`            // 0 = never gives up
	Since       *time.Time  `json:"since,omitempty"`         // when State began
	LastError   string      `json:"last_error"`              // the current mode's last error (socket, or poll while polling); "" when none
	LastErrorAt *time.Time  `json:"last_error_at,omitempty"` // when it happened
	RetryIn     string      `json:"retry_in,omitempty"`      // next reconnect delay as a Go duration ("4s"); absent when none
	Queue       QueueStatus `json:"queue"`                   // outbound queue
	EventsIn    uint64      `json:"events_in"`               // inbound events routed
	ParseErrors uint64      `json:"parse_errors"`            // inbound frames that could not be routed
	Duplicates  uint64      `json:"duplicates"`              // inbound events dropped as duplicates
	Gaps        uint64      `json:"gaps"`                    // jumps seen in a numeric cursor
	GapEvents   uint64      `json:"gap_events"`              // events missing across those jumps
	// CursorResets counts the times a numeric cursor went back in a way no replay explains.
	CursorResets uint64     `json:"cursor_resets"`
	LastEventAt  *time.Time `json:"last_event_at,omitempty"` // absent before the first event
	// LastEventAge is the seconds from the last event to Time; absent before the first event.
	LastEventAge *float64     `json:"last_event_age_seconds,omitempty"`
	Sinks        []SinkStatus `json:"sinks"`           // sorted by name
	Owner        string       `json:"owner,omitempty"` // cluster mode: the instance running it
}

// QueueStatus is a stream's outbound queue in StreamStatus.
type QueueStatus struct {
	Depth   int    `json:"depth"`   // messages waiting
	Bytes   int64  `json:"bytes"`   // bytes waiting
	Dropped uint64 `json:"dropped"` // dropped on overflow
	Expired uint64 `json:"expired"` // dropped after their ttl
	Sent    uint64 `json:"sent"`    // delivered and confirmed (see README, What delivered means)
	// Unconfirmed is how many of Depth were written and await confirmation.
	Unconfirmed int `json:"unconfirmed"`
}

// SendResponse is the body of a 202 from POST /v1/streams/{name}/messages.
type SendResponse struct {
	Accepted int `json:"accepted"` // messages queued from this request
	Depth    int `json:"depth"`    // queue depth after them
}

// ErrorResponse is the body of every 4xx and 5xx from the /v1 routes.
type ErrorResponse struct {
	Error string `json:"error"`
}

// toResponse converts the backend's status to the wire format.
func toResponse(st *messages.Status) StatusResponse {
	out := StatusResponse{Streams: []StreamStatus{}}
	if st == nil {
		return out
	}
	out.Time = timePtr(st.Now)
	if c := st.Cluster; c != nil {
		cs := &ClusterStatus{Instance: c.Instance, State: c.State, Live: append([]string{}, c.Live...),
			Streams: []ClusterStream{}, LastError: c.LastError, Warnings: c.Warnings}
		for _, o := range c.Owners {
			cs.Streams = append(cs.Streams, ClusterStream{Name: o.Stream, Owner: o.Owner, Epoch: o.Epoch})
		}
		out.Cluster = cs
	}
	for _, s := range st.Streams {
		row := StreamStatus{
			Name:        s.Stream,
			State:       s.State,
			Ready:       s.Ready,
			NotReady:    s.NotReady,
			Via:         s.Via,
			Attempt:     s.Attempt,
			MaxAttempts: s.MaxAttempts,
			Since:       timePtr(s.Since),
			LastError:   s.LastError,
			LastErrorAt: timePtr(s.LastErrorAt),
			Queue: QueueStatus{
				Depth:       s.Queue.Depth,
				Bytes:       s.Queue.Bytes,
				Dropped:     s.Queue.Dropped,
				Expired:     s.Queue.Expired,
				Sent:        s.Queue.Sent,
				Unconfirmed: s.Queue.Unconfirmed,
			},
			EventsIn:     s.Router.EventsIn,
			ParseErrors:  s.Router.ParseErrors,
			Duplicates:   s.Router.Duplicates,
			Gaps:         s.Router.Gaps,
			GapEvents:    s.Router.GapEvents,
			CursorResets: s.Router.CursorResets,
			LastEventAt:  timePtr(s.Router.LastEventAt),
			Owner:        s.Owner,
		}
		if s.RetryIn > 0 {
			row.RetryIn = s.RetryIn.String()
		}
		if !s.Router.LastEventAt.IsZero() && !st.Now.IsZero() {
			age := max(st.Now.Sub(s.Router.LastEventAt), 0).Seconds()
			row.LastEventAge = &age
		}
		row.Sinks = make([]SinkStatus, 0, len(s.Sinks))
		for _, sk := range s.Sinks {
			row.Sinks = append(row.Sinks, SinkStatus{
				Name:           sk.Sink,
				Kind:           sk.Kind,
				State:          sk.State,
				FailingSince:   timePtr(sk.FailingSince),
				UnhealthyAfter: sk.UnhealthyAfter.String(),
				LastError:      sk.LastError,
				LastErrorAt:    timePtr(sk.LastErrorAt),
				Delivered:      sk.Delivered,
				Retries:        sk.Retries,
				DeadLettered:   sk.DeadLettered,
				Backlog:        sk.Backlog,
				Reconnects:     sk.Reconnects,
			})
		}
		out.Streams = append(out.Streams, row)
	}
	slices.SortStableFunc(out.Streams, func(a, b StreamStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
