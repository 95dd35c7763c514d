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
	Streams []StreamStatus `json:"streams"`
}

// StreamStatus is one stream in StatusResponse.
type StreamStatus struct {
	Name        string      `json:"name"`
	State       string      `json:"state"`                   // connecting|connected|backoff|polling|auth_failed|failed|stopped
	Via         string      `json:"via"`                     // websocket|poll, or "" when events arrive by neither
	Attempt     int         `json:"attempt"`                 // reconnect attempts since the link was last stable
	MaxAttempts int         `json:"max_attempts"`            // 0 = never gives up
	Since       *time.Time  `json:"since,omitempty"`         // when State began
	LastError   string      `json:"last_error"`              // "" when none
	RetryIn     string      `json:"retry_in,omitempty"`      // next reconnect delay as a Go duration ("4s"); absent when none
	Queue       QueueStatus `json:"queue"`                   // outbound queue
	EventsIn    uint64      `json:"events_in"`               // inbound events routed
	ParseErrors uint64      `json:"parse_errors"`            // inbound frames that could not be routed
	Duplicates  uint64      `json:"duplicates"`              // inbound events dropped as duplicates
	Gaps        uint64      `json:"gaps"`                    // jumps seen in a numeric cursor
	GapEvents   uint64      `json:"gap_events"`              // events missing across those jumps
	LastEventAt *time.Time  `json:"last_event_at,omitempty"` // absent before the first event
}

// QueueStatus is a stream's outbound queue in StreamStatus.
type QueueStatus struct {
	Depth   int    `json:"depth"`   // messages waiting
	Bytes   int64  `json:"bytes"`   // bytes waiting
	Dropped uint64 `json:"dropped"` // dropped on overflow
	Expired uint64 `json:"expired"` // dropped after their ttl
	Sent    uint64 `json:"sent"`    // written upstream
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
	for _, s := range st.Streams {
		row := StreamStatus{
			Name:        s.Stream,
			State:       s.State,
			Via:         s.Via,
			Attempt:     s.Attempt,
			MaxAttempts: s.MaxAttempts,
			Since:       timePtr(s.Since),
			LastError:   s.LastError,
			Queue: QueueStatus{
				Depth:   s.Queue.Depth,
				Bytes:   s.Queue.Bytes,
				Dropped: s.Queue.Dropped,
				Expired: s.Queue.Expired,
				Sent:    s.Queue.Sent,
			},
			EventsIn:    s.Router.EventsIn,
			ParseErrors: s.Router.ParseErrors,
			Duplicates:  s.Router.Duplicates,
			Gaps:        s.Router.Gaps,
			GapEvents:   s.Router.GapEvents,
			LastEventAt: timePtr(s.Router.LastEventAt),
		}
		if s.RetryIn > 0 {
			row.RetryIn = s.RetryIn.String()
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
