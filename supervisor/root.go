package supervisor

import (
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/config"
	"holdfast/messages"
)

// RootConfig is what the daemon root needs at start.
type RootConfig struct {
	Config      *config.Config
	Stdout      io.Writer
	OnAllFailed func() // called once when every stream has given up; main exits 1 so systemd restarts it
}

// Root is the one actor per process above the streams: it starts, reloads and stops them and
// keeps the status every stream reports. Its mailbox is unbounded: it only receives control
// messages and reports. It never blocks in Receive: a stream it stops drains on its own, and
// its Terminated is handled as a message, so status and the watchdog's probe are answered
// throughout a reload.
type Root struct {
	log     zerolog.Logger
	env     actors.Env
	cfg     RootConfig
	streams map[string]StreamConfig
	status  map[string]*messages.StreamStatus
	failed  bool // OnAllFailed already called

	healthTimer actors.Timer
	notReady    map[string]string // stream → what kept it from delivering, as last logged

	stopping map[string]*StreamConfig // streams asked to stop; non-nil: start this config once stopped
	closing  bool                     // the root is stopping: no stream starts any more
	cluster  *rootCluster             // nil outside cluster mode
	reload   *pendingReload           // the reload waiting for streams to stop; nil when none
	reloads  []*pendingReload         // reloads that arrived meanwhile, applied in order
}

// pendingReload is a Reload request and, once applied, its answer; the answer goes out when
// every stream it stopped has terminated.
type pendingReload struct {
	cfg     *config.Config
	replyTo *actor.PID // nil when nobody waits
	out     *messages.Reloaded
}

// RootProps builds the daemon root. Streams report their state to it, so env.Status is set to
// the root itself.
func RootProps(env actors.Env, cfg RootConfig) *actor.Props {
	mustHaveMetrics(env)
	return actor.PropsFromProducer(func() actor.Actor {
		return &Root{log: env.Named("root"), env: env, cfg: cfg, streams: map[string]StreamConfig{},
			status: map[string]*messages.StreamStatus{}, notReady: map[string]string{}, stopping: map[string]*StreamConfig{}}
	})
}

// StreamPID is the PID of a stream's supervisor under root.
func StreamPID(root *actor.PID, stream string) *actor.PID {
	return actor.NewPID(root.Address, root.Id+"/"+stream)
}

// QueuePID is the PID of a stream's outbound queue under root.
func QueuePID(root *actor.PID, stream string) *actor.PID {
	return actor.NewPID(root.Address, root.Id+"/"+stream+"/"+actors.NameQueue)
}

func (r *Root) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		r.env.Status = ctx.Self()
		if r.cfg.Config.Cluster != nil {
			r.startCluster(ctx) // the Cluster actor says which streams to run
		} else {
			for _, sc := range StreamConfigs(r.cfg.Config, r.cfg.Stdout) {
				r.startStream(ctx, sc)
			}
		}
		r.armHealth(ctx)
	case *healthTick:
		r.checkHealth()
		r.armHealth(ctx)
	case *actor.Stopping:
		r.closing = true
		if r.healthTimer != nil {
			r.healthTimer.Stop()
		}
		r.stopClusterStreams(ctx)
	case *messages.StreamState:
		if r.known(msg.Stream) {
			r.row(msg.Stream).StreamState = *msg
			r.checkAllFailed()
		}
	case *messages.RouterStats:
		if r.known(msg.Stream) {
			r.row(msg.Stream).Router = *msg
		}
	case *messages.QueueStats:
		if r.known(msg.Stream) {
			r.row(msg.Stream).Queue = *msg
		}
	case *messages.SinkStats:
		r.sinkStats(msg)
	case *messages.PollResult:
		if _, ok := r.streams[msg.Stream]; ok {
			r.row(msg.Stream).Poll = *msg
		}
	case *messages.GetStatus:
		ctx.Respond(r.snapshot())
	case *messages.Reload:
		r.reloads = append(r.reloads, &pendingReload{cfg: msg.Config, replyTo: ctx.Sender()})
		r.nextReload(ctx)
	case *actor.Terminated:
		r.stopped(ctx, msg.Who)
	case *messages.RunStream, *messages.StopStream, *messages.ClusterState:
		r.clusterMessage(ctx, msg)
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		r.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

// HandleFailure restarts a crashed stream supervisor at once: its own strategy paces the
// connection, so a crash here is a bug, logged at Error.
func (r *Root) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	_ *actor.RestartStatistics, reason, _ any) {
	if r.clusterCrashed(sup, child, reason) {
		return
	}
	r.log.Error().Str("child", child.Id).Interface("reason", crashReason(reason)).Str("stack", crashStack(reason)).
		Msg("stream supervisor crashed; restarting")
	sup.RestartChildren(child)
}

// known reports whether stream runs; a late report of a stream that is gone (its Terminated
// overtakes its last messages) must not bring its row back.
func (r *Root) known(stream string) bool {
	_, ok := r.streams[stream]
	return ok
}

func (r *Root) row(stream string) *messages.StreamStatus {
	st, ok := r.status[stream]
	if !ok {
		st = &messages.StreamStatus{}
		st.Stream = stream
		r.status[stream] = st
	}
	return st
}

func (r *Root) snapshot() *messages.Status {
	names := make([]string, 0, len(r.streams))
	for name := range r.streams {
		names = append(names, name)
	}
	slices.Sort(names)
	now := r.env.Clock.Now()
	out := &messages.Status{Now: now, Streams: make([]messages.StreamStatus, 0, len(names))}
	for _, name := range names {
		row := *r.row(name)
		row.Sinks = slices.Clone(row.Sinks)
		for i := range row.Sinks {
			row.Sinks[i].State = SinkState(row.Sinks[i], now)
		}
		if row.State == messages.StatePolling && row.Poll.Err != "" {
			row.LastError, row.LastErrorAt = row.Poll.Err, row.Poll.At // the current mode's error
		}
		row.Ready, row.NotReady = Readiness(&row, now)
		out.Streams = append(out.Streams, row)
	}
	r.clusterSnapshot(out)
	return out
}

// sinkStats keeps a sink's latest report in its stream's row, sorted by sink name. Reports
// of streams that are gone (a late one from a stopped sink) are dropped.
func (r *Root) sinkStats(msg *messages.SinkStats) {
	if _, ok := r.streams[msg.Stream]; !ok {
		return
	}
	row := r.row(msg.Stream)
	i, found := slices.BinarySearchFunc(row.Sinks, msg.Sink, func(s messages.SinkStats, name string) int {
		return strings.Compare(s.Sink, name)
	})
	if found {
		row.Sinks[i] = *msg
	} else {
		row.Sinks = slices.Insert(row.Sinks, i, *msg)
	}
}

func (r *Root) checkAllFailed() {
	if r.failed || len(r.streams) == 0 {
		return
	}
	for name := range r.streams {
		if r.row(name).State != messages.StateFailed {
			return
		}
	}
	r.failed = true
	r.log.Error().Int("streams", len(r.streams)).Msg("every stream has failed")
	if r.cfg.OnAllFailed != nil {
		r.cfg.OnAllFailed()
	}
}

func (r *Root) startStream(ctx actor.Context, sc StreamConfig) {
	r.env.Metrics.InitStream(sc.Stream.Name, sc.Stream.Fallback != nil)
	r.env.Metrics.QueueMax.WithLabelValues(sc.Stream.Name).Set(float64(sc.Stream.Queue.MaxMessages))
	r.env.Metrics.QueueMaxB.WithLabelValues(sc.Stream.Name).Set(float64(sc.Stream.Queue.MaxBytes))
	run := sc // kept apart from r.streams, so a new shutdown_timeout alone restarts nothing
	run.Drain = r.clusterDrain(r.cfg.Config.Daemon.ShutdownTimeout.Duration / 2)
	if _, err := ctx.SpawnNamed(actors.Supervised(StreamProps(r.env, run)), sc.Stream.Name); err != nil {
		r.log.Error().Err(err).Str("stream", sc.Stream.Name).Msg("start stream")
		return
	}
	r.streams[sc.Stream.Name] = sc
}

// stopStream asks a stream to stop (it drains on its own) and returns at once; then, when
// set, starts it again with its new config once it has terminated.
func (r *Root) stopStream(ctx actor.Context, name string, then *StreamConfig) {
	r.stopping[name] = then
	ctx.Stop(StreamPID(ctx.Self(), name))
}

// stopped handles a stream's Terminated: its row goes, a restart starts the new config, and
// the pending reload is answered once no stream is left stopping.
func (r *Root) stopped(ctx actor.Context, who *actor.PID) {
	name := strings.TrimPrefix(who.Id, ctx.Self().Id+"/")
	then, ok := r.stopping[name]
	if !ok {
		return
	}
	delete(r.stopping, name)
	delete(r.streams, name)
	delete(r.status, name)
	r.env.Metrics.DeleteStream(name)
	r.clusterStopped(ctx, name)
	if then != nil && !r.closing { // a restart a reload asked for, unless the root is stopping
		r.startStream(ctx, *then)
	}
	if len(r.stopping) == 0 && r.reload != nil {
		r.finishReload(ctx)
	}
}

// nextReload applies the oldest waiting reload, unless one is still stopping streams. It
// starts added streams, stops removed ones, restarts changed ones, and leaves the
// connections of unchanged streams untouched (their file sinks reopen). The answer goes out
// once every stopped stream has terminated.
func (r *Root) nextReload(ctx actor.Context) {
	if r.reload != nil || len(r.reloads) == 0 {
		return
	}
	p := r.reloads[0]
	r.reloads = r.reloads[1:]
	r.reload, p.out = p, &messages.Reloaded{}
	next := map[string]StreamConfig{}
	for _, sc := range StreamConfigs(p.cfg, r.cfg.Stdout) {
		if r.cluster != nil {
			sc.Cursors = r.cluster.cursors
		}
		next[sc.Stream.Name] = sc
	}
	for name := range r.streams {
		if _, ok := next[name]; !ok {
			r.stopStream(ctx, name, nil)
			p.out.Removed = append(p.out.Removed, name)
		}
	}
	for name, sc := range next {
		old, ok := r.streams[name]
		switch {
		case !ok && r.cluster != nil:
			p.out.Added = append(p.out.Added, name) // the Cluster actor decides where it runs
		case !ok:
			r.startStream(ctx, sc)
			p.out.Added = append(p.out.Added, name)
		case !reflect.DeepEqual(old, sc):
			r.stopStream(ctx, name, &sc)
			p.out.Restarted = append(p.out.Restarted, name)
		default:
			ctx.Send(StreamPID(ctx.Self(), name), &messages.Reopen{})
			p.out.Unchanged = append(p.out.Unchanged, name)
		}
	}
	r.cfg.Config, r.failed = p.cfg, false
	r.clusterReloaded(ctx)
	if len(r.stopping) == 0 {
		r.finishReload(ctx)
	}
}

// finishReload answers the pending reload and goes on with the next one.
func (r *Root) finishReload(ctx actor.Context) {
	p, out := r.reload, r.reload.out
	r.reload = nil
	for _, l := range [][]string{out.Added, out.Removed, out.Restarted, out.Unchanged} {
		slices.Sort(l)
	}
	r.log.Info().Strs("added", out.Added).Strs("removed", out.Removed).Strs("restarted", out.Restarted).
		Strs("unchanged", out.Unchanged).Msg("config reloaded")
	if p.replyTo != nil {
		ctx.Send(p.replyTo, out)
	}
	r.nextReload(ctx)
}

// StreamConfigs cuts the config into one StreamConfig per stream, each holding only the
// sinks it uses, so that a change to an unrelated sink does not restart it.
func StreamConfigs(cfg *config.Config, stdout io.Writer) []StreamConfig {
	out := make([]StreamConfig, 0, len(cfg.Streams))
	for _, st := range cfg.Streams {
		sinks := map[string]config.SinkConfig{}
		var add func(name string)
		add = func(name string) {
			if name == "" {
				return
			}
			if _, seen := sinks[name]; seen {
				return
			}
			if sk, ok := cfg.Sink(name); ok {
				sinks[name] = sk
				add(sk.DeadLetter)
			}
		}
		for _, rt := range st.Routes {
			for _, name := range rt.Sinks {
				add(name)
			}
		}
		add(st.DeadLetter)
		out = append(out, StreamConfig{Stream: st, Sinks: sinks, StateDir: cfg.Daemon.StateDir, Stdout: stdout})
	}
	return out
}

// mustHaveMetrics stops a caller that builds a tree without metrics: every actor below counts
// into env.Metrics without checking for nil.
func mustHaveMetrics(env actors.Env) {
	if env.Metrics == nil {
		panic("supervisor: actors.Env.Metrics is required")
	}
}

// StatusTimeout bounds a status request to the root (control API, watchdog).
const StatusTimeout = 2 * time.Second

// healthEvery is how often the root re-evaluates readiness for the metrics and the log: a
// sink crosses its unhealthy_after without sending anything.
const healthEvery = time.Second

type healthTick struct{}

func (r *Root) armHealth(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	r.healthTimer = r.env.Clock.AfterFunc(healthEvery, func() { root.Send(self, &healthTick{}) })
}

// checkHealth updates stream_ready and sink_healthy, and logs each change of a stream's
// readiness once: at warn with the reasons, at info when it is ready again.
func (r *Root) checkHealth() {
	for _, row := range r.snapshot().Streams {
		m := r.env.Metrics
		m.StreamReady.WithLabelValues(row.Stream).Set(boolGauge(row.Ready))
		for _, sk := range row.Sinks {
			m.SinkHealthy.WithLabelValues(row.Stream, sk.Sink).Set(boolGauge(sk.State != SinkUnhealthy))
		}
		// The link's states are logged where they happen; this logs what only health sees:
		// unhealthy sinks and failing polls, once per change of which ones.
		key := ""
		for _, sk := range row.Sinks {
			if sk.State == SinkUnhealthy {
				key += " sink " + sk.Sink
			}
		}
		if row.State == messages.StatePolling && row.Poll.Err != "" {
			key += " poll"
		}
		prev := r.notReady[row.Stream]
		switch {
		case key == prev:
		case key == "":
			delete(r.notReady, row.Stream)
			r.log.Info().Str("stream", row.Stream).Str("was", strings.TrimSpace(prev)).Msg("stream delivering again")
		default:
			r.notReady[row.Stream] = key
			r.log.Warn().Str("stream", row.Stream).Strs("reasons", row.NotReady).Msg("stream not delivering")
		}
	}
	for name := range r.notReady {
		if _, ok := r.streams[name]; !ok {
			delete(r.notReady, name)
		}
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
