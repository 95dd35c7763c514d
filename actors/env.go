// Package actors holds holdfast's actors, one file each, and what they share.
package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/metrics"
	"holdfast/sinks"
)

// Env is what every actor is given instead of looking anything up globally.
type Env struct {
	Log     zerolog.Logger
	Clock   Clock
	Rand    Rand
	Status  *actor.PID       // receives StreamState, RouterStats, QueueStats; nil = nobody
	Metrics *metrics.Metrics // required: actors count into it unconditionally (tests pass metrics.New())
	Procs   *sinks.Groups    // exec sinks' process groups, killed if the shutdown times out; nil = untracked
}

// Named returns a logger for one actor, as STYLE.md asks: the child name is the actor field.
func (e Env) Named(name string) zerolog.Logger {
	return e.Log.With().Str("actor", name).Logger()
}

// Peers are the PIDs of one stream's children. The stream computes them from the child names
// before spawning anything, so the value is complete from the start and never changes; PIDs
// survive restarts.
type Peers struct {
	Stream     *actor.PID
	Connection *actor.PID
	Heartbeat  *actor.PID
	Queue      *actor.PID
	Router     *actor.PID
	Cursor     *actor.PID
	Poller     *actor.PID
	Sinks      map[string]*actor.PID // read-only after construction
	// Inflight is the stream's byte bound on events between reader and sinks (safe for
	// concurrent use; nil = none). The router's and sinks' mailboxes share it.
	Inflight *Inflight
}

// Child names, which double as the actor log field.
const (
	NameConnection = "connection"
	NameHeartbeat  = "heartbeat"
	NameQueue      = "queue"
	NameRouter     = "router"
	NameCursor     = "cursor"
	NamePoller     = "poller"
	SinkPrefix     = "sink-"
)
