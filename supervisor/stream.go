// Package supervisor holds the actors that own others: the stream supervisor with its
// reconnect strategy, and the daemon root.
package supervisor

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/retry"
)

// StreamConfig is everything one stream subtree needs.
type StreamConfig struct {
	Stream   config.StreamConfig
	Sinks    map[string]config.SinkConfig // every sink the stream's routes and dead letters name
	StateDir string
	Stdout   io.Writer          // where stdout sinks write
	Cursors  actors.CursorStore // nil: cursor files under StateDir; cluster mode: the KV bucket
	// Drain is how long a stop waits for the outbound queue to be delivered and confirmed
	// before the socket closes; the root sets it to half of shutdown_timeout. 0: no wait.
	Drain time.Duration
}

// Stream supervises one stream's children and acts on its reconnect policy (reconnect.go):
// after every connection failure it asks the policy what to do and does it, restarting the
// connection when the timer fires. When attempts run out it starts the poller (or marks the
// stream failed) and keeps probing the socket.
type Stream struct {
	log    zerolog.Logger
	env    actors.Env
	cfg    StreamConfig
	policy *reconnect
	peers  actors.Peers
	self   *actor.PID
	root   *actor.RootContext

	state          messages.StreamState
	gen            uint64       // generation of the ready socket
	failedGen      uint64       // newest generation that failed: its Connected may still be queued
	pending        actors.Timer // restart or probe timer
	promote        actors.Timer // dwell timer while a probe proves itself
	polling        bool
	pollerStopping bool // the poller was asked to stop and has not terminated yet
	pollerWanted   bool // reconnects ran out again while it was stopping: start it once it has
	modeSince      time.Time
}

type (
	giveUp       struct{ reason *messages.Failure }
	promoteCheck struct{ gen uint64 }
	redialing    struct{} // the backoff timer fired and the connection restarts
)

// StreamProps builds the props of one stream's supervisor.
func StreamProps(env actors.Env, cfg StreamConfig) *actor.Props {
	mustHaveMetrics(env)
	return actor.PropsFromProducer(func() actor.Actor {
		return &Stream{log: env.Named("stream").With().Str("stream", cfg.Stream.Name).Logger(), env: env, cfg: cfg}
	})
}

func (s *Stream) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *messages.Connected:
		s.connected(ctx, msg)
	case *promoteCheck:
		if msg.gen == s.gen && s.polling {
			s.backOnSocket(ctx)
		}
	case *giveUp:
		s.gaveUp(ctx, msg.reason)
	case *redialing:
		if st := s.state.State; st == messages.StateBackoff || st == messages.StateAuthFailed {
			s.setState(messages.StateConnecting, "", 0) // status says dialing, not waiting
		}
	case *messages.Reopen:
		for _, pid := range s.peers.Sinks {
			ctx.Send(pid, msg)
		}
	case *actor.Terminated:
		if msg.Who.Equal(s.peers.Poller) {
			s.pollerStopped(ctx)
		}
	case *actor.Stopping:
		s.stopChildren(ctx)
	case *actor.Stopped:
		s.setState(messages.StateStopped, "", 0)
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		s.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

func (s *Stream) start(ctx actor.Context) {
	s.self, s.root = ctx.Self(), ctx.ActorSystem().Root
	sc := s.cfg.Stream
	policy, err := newReconnect(sc, s.env.Rand)
	if err != nil { // validated at load
		s.log.Error().Err(err).Msg("bad reconnect config")
		policy.backoff = retry.Backoff{Min: config.DefaultInitialDelay, Max: config.DefaultMaxDelay}
	}
	s.policy = policy
	s.peers = s.childPIDs()
	initial := ""
	if sc.HasCursor() {
		if s.cfg.Cursors != nil {
			initial, err = s.cfg.Cursors.Load(sc.Name)
		} else {
			initial, err = actors.LoadCursor(actors.CursorPath(s.cfg.StateDir, sc.Name))
		}
		if err != nil {
			s.log.Error().Err(err).Msg("cursor unreadable; starting without one")
		}
	}
	// Spawn order matters for shutdown: consumers first, the connection last.
	for name, sk := range s.cfg.Sinks {
		s.spawn(ctx, actors.SinkPrefix+name, actors.SinkProps(s.env, sk, sc.Name, s.peers, s.cfg.Stdout))
	}
	if s.peers.Cursor != nil {
		s.spawn(ctx, actors.NameCursor, actors.CursorProps(s.env, actors.CursorConfig{Stream: sc.Name,
			Path: actors.CursorPath(s.cfg.StateDir, sc.Name), Interval: sc.Cursor.CheckpointInterval.Duration, Initial: initial,
			Conn: s.peers.Connection, Store: s.cfg.Cursors}))
	}
	s.spawn(ctx, actors.NameRouter, actors.RouterProps(s.env, actors.RouterConfigFrom(sc, initial), s.peers))
	s.spawn(ctx, actors.NameQueue, actors.QueueProps(s.env, sc, s.cfg.StateDir, s.peers))
	s.spawn(ctx, actors.NameHeartbeat, actors.HeartbeatProps(s.env, sc.Name, sc.Heartbeat, s.peers))
	s.setState(messages.StateConnecting, "", 0)
	s.spawn(ctx, actors.NameConnection, actors.ConnectionProps(s.env, sc, s.peers))
}

// childPIDs computes every child's PID from its name, before anything is spawned.
func (s *Stream) childPIDs() actors.Peers {
	pid := func(name string) *actor.PID { return actor.NewPID(s.self.Address, s.self.Id+"/"+name) }
	p := actors.Peers{Stream: s.self, Connection: pid(actors.NameConnection), Heartbeat: pid(actors.NameHeartbeat),
		Queue: pid(actors.NameQueue), Router: pid(actors.NameRouter), Sinks: map[string]*actor.PID{},
		Inflight: actors.NewInflight(int64(s.cfg.Stream.MaxInflightBytes))}
	if s.cfg.Stream.HasCursor() || s.cfg.Stream.Acks() { // acks wait on the sinks' progress, which the cursor actor follows
		p.Cursor = pid(actors.NameCursor)
	}
	if s.cfg.Stream.Fallback != nil {
		p.Poller = pid(actors.NamePoller)
	}
	for name := range s.cfg.Sinks {
		p.Sinks[name] = pid(actors.SinkPrefix + name)
	}
	return p
}

func (s *Stream) spawn(ctx actor.Context, name string, props *actor.Props) {
	if _, err := ctx.SpawnNamed(actors.Supervised(props), name); err != nil {
		s.log.Error().Err(err).Str("child", name).Msg("spawn")
	}
}

// HandleFailure runs on the stream's mailbox: no locks needed.
func (s *Stream) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason, _ any) {
	if !child.Equal(s.peers.Connection) {
		// A bug in another child: log it with the crash site's stack and restart it at once.
		logCrash(s.log, child, reason)
		sup.RestartChildren(child)
		return
	}
	f := asFailure(reason, s.log)
	s.failedGen = max(s.failedGen, f.Gen)
	d := s.policy.next(s.env.Clock.Now(), s.polling, f)
	s.gen = 0
	stopTimer(&s.promote)
	s.env.Metrics.Reconnects.WithLabelValues(s.cfg.Stream.Name).Inc()
	// Timers are armed before the state goes out, so observers can move time.
	switch d.Action {
	case Probe: // the poller carries on, and takes the queue back
		s.log.Info().Err(f.Err).Dur("retry_in", d.Delay).Msg("websocket probe failed")
		s.root.Send(s.peers.Queue, &messages.QueueMode{Via: messages.ViaPoll})
		s.schedule(sup, child, d.Delay)
		s.setState(d.State, f.Err.Error(), 0)
	case Halt:
		s.log.Error().Err(f.Err).Msg("authentication rejected; stream stopped (auth.on_failure = stop)")
		s.setState(d.State, f.Err.Error(), 0)
	case GiveUp:
		if d.Delay > 0 {
			s.schedule(sup, child, d.Delay) // the first probe; the poller starts meanwhile
		}
		s.root.Send(s.self, &giveUp{reason: f})
	case Redial:
		if f.Kind == messages.AuthRejected {
			s.log.Error().Err(f.Err).Int("attempt", s.policy.attempts).Dur("retry_in", d.Delay).
				Msg("authentication rejected; retrying at max_delay")
		} else {
			s.log.Warn().Int("attempt", s.policy.attempts).Int("max_attempts", s.policy.cfg.MaxAttempts).
				Dur("retry_in", d.Delay).Dur("hint", f.Hint).Str("kind", f.Kind.String()).Err(f.Err).Msg("reconnect scheduled")
		}
		s.schedule(sup, child, d.Delay)
		s.setState(d.State, f.Err.Error(), d.Delay)
	}
}

func (s *Stream) schedule(sup actor.Supervisor, child *actor.PID, d time.Duration) {
	stopTimer(&s.pending)
	self, root := s.self, s.root
	s.pending = s.env.Clock.AfterFunc(d, func() {
		sup.RestartChildren(child)
		root.Send(self, &redialing{})
	})
}

// gaveUp hands over to the poller, or marks the stream failed when it has none.
func (s *Stream) gaveUp(ctx actor.Context, f *messages.Failure) {
	rc := s.cfg.Stream.Reconnect
	if s.cfg.Stream.Fallback == nil {
		s.log.Error().Int("attempts", rc.MaxAttempts).Err(f.Err).Msg("gave up reconnecting; stream failed")
		s.setState(messages.StateFailed, f.Err.Error(), 0)
		return
	}
	s.log.Warn().Int("attempts", rc.MaxAttempts).Err(f.Err).Dur("probe_every", s.policy.probeEvery).Msg("gave up reconnecting; polling")
	s.polling = true
	if s.pollerStopping {
		s.pollerWanted = true // its name is free once the last one has terminated
	} else {
		s.spawn(ctx, actors.NamePoller, actors.PollerProps(s.env, s.cfg.Stream, s.peers))
	}
	s.switchMode(ctx, messages.ViaWebSocket, messages.ViaPoll)
	s.setState(messages.StatePolling, f.Err.Error(), 0)
}

func (s *Stream) connected(ctx actor.Context, msg *messages.Connected) {
	if msg.Gen <= s.failedGen {
		return // protoactor hands over the failure before user messages already queued
	}
	s.gen = msg.Gen
	s.policy.up(s.env.Clock.Now())
	if !s.polling {
		s.setState(messages.StateConnected, "", 0)
		return
	}
	// A probe got through: the poller keeps running until the socket stays up promote_after.
	dwell := s.cfg.Stream.Fallback.PromoteAfter.Duration
	s.log.Info().Dur("promote_after", dwell).Msg("websocket probe connected")
	self, root, gen := ctx.Self(), s.root, msg.Gen
	stopTimer(&s.promote)
	s.promote = s.env.Clock.AfterFunc(dwell, func() { root.Send(self, &promoteCheck{gen: gen}) })
}

func (s *Stream) backOnSocket(ctx actor.Context) {
	s.polling = false
	s.policy.reset()
	ctx.Stop(s.peers.Poller) // no waiting in Receive: its Terminated comes as a message
	s.pollerStopping = true
	s.switchMode(ctx, messages.ViaPoll, messages.ViaWebSocket)
	s.log.Info().Msg("back on websocket")
	s.setState(messages.StateConnected, "", 0)
}

// pollerStopped handles the poller's Terminated: if reconnects ran out again meanwhile, the
// poller starts now that its name is free.
func (s *Stream) pollerStopped(ctx actor.Context) {
	s.pollerStopping = false
	if s.pollerWanted && s.polling {
		s.spawn(ctx, actors.NamePoller, actors.PollerProps(s.env, s.cfg.Stream, s.peers))
	}
	s.pollerWanted = false
}

// switchMode logs and counts a transport switch and tells the queue where to flush.
func (s *Stream) switchMode(ctx actor.Context, from, to string) {
	now := s.env.Clock.Now()
	m := s.env.Metrics
	m.ModeSwitches.WithLabelValues(s.cfg.Stream.Name, from, to).Inc()
	if !s.modeSince.IsZero() {
		m.ModeSeconds.WithLabelValues(s.cfg.Stream.Name, from).Add(now.Sub(s.modeSince).Seconds())
	}
	s.modeSince = now
	if to == messages.ViaPoll {
		ctx.Send(s.peers.Queue, &messages.QueueMode{Via: messages.ViaPoll})
	}
}

func (s *Stream) setState(state, lastErr string, retryIn time.Duration) {
	now := s.env.Clock.Now()
	st := s.state
	if st.State != state {
		st.Since = now
	}
	via := ""
	switch {
	case s.polling:
		via = messages.ViaPoll
	case state == messages.StateConnected:
		via = messages.ViaWebSocket
	}
	st.Stream, st.State, st.Via, st.Attempt, st.MaxAttempts = s.cfg.Stream.Name, state, via, s.policy.attempts, s.cfg.Stream.Reconnect.MaxAttempts
	st.RetryIn = retryIn
	if lastErr != "" {
		st.LastError, st.LastErrorAt = messages.Printable(lastErr), now // the upstream controls close reasons
	}
	s.state = st
	m := s.env.Metrics
	m.SetState(st.Stream, state)
	m.SetVia(st.Stream, via)
	if s.env.Status != nil {
		snapshot := st
		s.root.Send(s.env.Status, &snapshot)
	}
}

// stopChildren drains the stream at shutdown: the outbound queue is delivered while the link
// is up (for at most Drain), the socket closes with the close handshake, the queue records
// the last confirmations, then the router and the sinks finish what they hold, and the
// cursor saves last.
func (s *Stream) stopChildren(ctx actor.Context) {
	stopTimer(&s.pending)
	stopTimer(&s.promote)
	wait := func(f *actor.Future) { _ = f.Wait() } // each future times out on its own (10s)
	if s.cfg.Drain > 0 {
		res, err := ctx.RequestFuture(s.peers.Queue, &messages.DrainQueue{}, s.cfg.Drain).Result()
		durable := s.cfg.Stream.Queue.Durable
		if d, ok := res.(*messages.QueueDrained); ok && d.Depth > 0 {
			s.log.Warn().Int("depth", d.Depth).Bool("durable", durable).Msg("outbound queue not drained: no link to send on")
		} else if err != nil {
			s.log.Warn().Dur("drain", s.cfg.Drain).Bool("durable", durable).Msg("outbound queue not drained in time")
		}
	}
	wait(ctx.StopFuture(s.peers.Connection))
	if s.polling {
		wait(ctx.StopFuture(s.peers.Poller))
	}
	wait(ctx.PoisonFuture(s.peers.Queue)) // after the confirmations the reader sent while closing
	wait(ctx.PoisonFuture(s.peers.Router))
	for _, pid := range s.peers.Sinks {
		wait(ctx.PoisonFuture(pid))
	}
	if s.peers.Cursor != nil {
		wait(ctx.PoisonFuture(s.peers.Cursor))
	}
}

// asFailure turns a panic value into a Failure. An unknown panic is a bug: it is logged with
// its stack and treated as transient, so one bad frame never takes the process down.
func asFailure(reason any, log zerolog.Logger) *messages.Failure {
	var f *messages.Failure
	if err, ok := reason.(error); ok && errors.As(err, &f) {
		return f
	}
	log.Error().Interface("reason", crashReason(reason)).Str("stack", crashStack(reason)).Msg("connection crashed")
	return &messages.Failure{Kind: messages.Transient, Err: fmt.Errorf("panic: %v", crashReason(reason))}
}

// logCrash logs a child's crash at Error with the stack of the crash site (see
// actors.CrashSite).
func logCrash(log zerolog.Logger, child *actor.PID, reason any) {
	log.Error().Str("child", child.Id).Interface("reason", crashReason(reason)).Str("stack", crashStack(reason)).Msg("child crashed")
}

// crashReason is the panic value of a crash; other reasons are returned as they are.
func crashReason(reason any) any {
	if c, ok := reason.(*messages.Crash); ok {
		return c.Reason
	}
	return reason
}

// crashStack is the crash site's stack, or "" when the reason did not come through
// actors.CrashSite.
func crashStack(reason any) string {
	if c, ok := reason.(*messages.Crash); ok {
		return c.Stack
	}
	return ""
}

func stopTimer(t *actors.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}
