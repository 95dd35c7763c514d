package supervisor

import (
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"holdfast/actors"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/sinks"
)

// replayMargin is added to lease_ttl and the longest checkpoint interval to get the longest
// replay a failover causes (the new owner's connect and resubscribe).
const replayMargin = 30 * time.Second

// rootCluster is the root's side of cluster mode.
type rootCluster struct {
	pid      *actor.PID
	instance string
	cursors  *actors.KVCursors
	state    *messages.ClusterState // the latest report; nil before the first
	notify   map[string]bool        // streams stopping at the Cluster actor's request
}

// startCluster spawns the Cluster actor; streams start when it takes their leases.
func (r *Root) startCluster(ctx actor.Context) {
	cc := *r.cfg.Config.Cluster
	if cc.Instance == "" {
		cc.Instance = actors.DefaultInstance()
	}
	rc := &rootCluster{instance: cc.Instance, cursors: actors.NewKVCursors(), notify: map[string]bool{}}
	props := actors.ClusterProps(r.env, actors.ClusterConfig{Cluster: cc, Streams: streamNames(r.cfg.Config),
		Root: ctx.Self(), Cursors: rc.cursors, Replay: LongestReplay(r.cfg.Config), JetStreams: jetStreams(r.cfg.Config)})
	pid, err := ctx.SpawnNamed(props, actors.NameCluster)
	if err != nil {
		r.log.Error().Err(err).Msg("start cluster")
		return
	}
	rc.pid = pid
	r.cluster = rc
	r.log.Info().Str("instance", cc.Instance).Int("streams", len(r.cfg.Config.Streams)).Msg("cluster mode")
}

// clusterMessage runs and stops streams as the Cluster actor asks, like a reload does.
func (r *Root) clusterMessage(ctx actor.Context, msg any) {
	if r.cluster == nil {
		return
	}
	switch msg := msg.(type) {
	case *messages.RunStream:
		if _, running := r.streams[msg.Stream]; running || r.closing {
			return
		}
		for _, sc := range StreamConfigs(r.cfg.Config, r.cfg.Stdout) {
			if sc.Stream.Name == msg.Stream {
				sc.Cursors = r.cluster.cursors
				r.startStream(ctx, sc)
			}
		}
	case *messages.StopStream:
		r.stopClusterStream(ctx, msg.Stream)
	case *messages.ClusterState:
		r.cluster.state = msg
	}
}

// stopClusterStream stops a stream as a reload does (without waiting in Receive); the
// Cluster actor hears StreamStopped once the subtree terminated (sinks flushed, cursor
// saved). Until then the name stays taken and the Cluster actor does not take it again.
func (r *Root) stopClusterStream(ctx actor.Context, name string) {
	if _, running := r.streams[name]; !running {
		ctx.Send(r.cluster.pid, &messages.StreamStopped{Stream: name})
		return
	}
	r.cluster.notify[name] = true
	r.stopStream(ctx, name, nil) // a restart a reload asked for is dropped: the lease is gone
}

// clusterStopped tells the Cluster actor that a stream it asked to stop has terminated.
func (r *Root) clusterStopped(ctx actor.Context, name string) {
	if r.cluster != nil && r.cluster.notify[name] {
		delete(r.cluster.notify, name)
		ctx.Send(r.cluster.pid, &messages.StreamStopped{Stream: name})
	}
}

// clusterCrashed handles a crash of the Cluster actor: its next incarnation holds no lease
// and renews none, so every stream stops (their leases expire and any instance, this one
// included, takes them again), then the actor restarts.
func (r *Root) clusterCrashed(sup actor.Supervisor, child *actor.PID, reason any) bool {
	if r.cluster == nil || !child.Equal(r.cluster.pid) {
		return false
	}
	r.log.Error().Interface("reason", crashReason(reason)).Str("stack", crashStack(reason)).
		Int("streams", len(r.streams)).Msg("cluster actor crashed; stopping every stream and restarting it")
	self := strings.TrimSuffix(child.Id, "/"+actors.NameCluster)
	var pids []*actor.PID
	for name := range r.streams {
		if _, stopping := r.stopping[name]; !stopping {
			r.stopping[name] = nil
			pids = append(pids, actor.NewPID(child.Address, self+"/"+name))
		}
	}
	sup.StopChildren(pids...)
	sup.RestartChildren(child)
	return true
}

// clusterReloaded tells the Cluster actor the configured streams after a reload.
func (r *Root) clusterReloaded(ctx actor.Context) {
	if r.cluster != nil {
		ctx.Send(r.cluster.pid, &messages.ClusterStreams{Streams: streamNames(r.cfg.Config)})
	}
}

// stopClusterStreams runs the graceful stop of cluster mode, in this order: every stream
// stops (sinks drained, final checkpoint attempted); then the Cluster actor releases the
// leases of the stopped streams whose checkpoint covers what they routed and withdraws the
// member key; only then is the Cluster actor (a sibling) stopped, which closes the NATS
// connection the cursors are saved through. It blocks the root's Stopping, and every wait is
// bounded: a stream's stop by its drain (at most lease_ttl/6 here) and StopFuture's own
// timeout, the release by clusterRelease plus a second.
func (r *Root) stopClusterStreams(ctx actor.Context) {
	if r.cluster == nil {
		return
	}
	began := r.env.Clock.Now()
	futures := make(map[string]*actor.Future, len(r.streams))
	for name := range r.streams {
		futures[name] = ctx.StopFuture(StreamPID(ctx.Self(), name))
	}
	var running []string
	for name, f := range futures {
		if err := f.Wait(); err != nil { // each times out on its own
			r.log.Warn().Err(err).Str("stream", name).Msg("stream not stopped; its lease is left to expire")
			running = append(running, name)
		}
	}
	slices.Sort(running)
	timeout := clusterRelease(r.cfg.Config.Daemon.ShutdownTimeout.Duration, r.env.Clock.Now().Sub(began))
	res, err := ctx.RequestFuture(r.cluster.pid, &messages.ReleaseLeases{Running: running, Timeout: timeout},
		timeout+time.Second).Result()
	if _, ok := res.(*messages.LeasesReleased); err != nil || !ok {
		r.log.Warn().Err(err).Msg("lease release at stop not answered; the leases expire")
	}
}

// Bounds of the lease release of a graceful stop.
const (
	clusterReleaseMax    = 2 * time.Second
	clusterReleaseMin    = 50 * time.Millisecond  // below this every delete fails: the leases expire
	clusterReleaseMargin = 500 * time.Millisecond // left of shutdown_timeout for the rest of the stop
)

// clusterRelease is how long a graceful stop may spend releasing leases once its streams
// took the time stopped to stop: a quarter of shutdown_timeout, at most clusterReleaseMax,
// and no more than what is left of shutdown_timeout less a margin (a tenth of it, at most
// clusterReleaseMargin) for closing the connection and exiting.
func clusterRelease(shutdown, stopped time.Duration) time.Duration {
	left := shutdown - stopped - min(clusterReleaseMargin, shutdown/10)
	return max(min(clusterReleaseMax, shutdown/4, left), clusterReleaseMin)
}

// clusterSnapshot adds the cluster's state and each local stream's owner to a status.
func (r *Root) clusterSnapshot(out *messages.Status) {
	if r.cluster == nil {
		return
	}
	for i := range out.Streams {
		out.Streams[i].Owner = r.cluster.instance
	}
	st := messages.ClusterState{Instance: r.cluster.instance, State: messages.ClusterConnecting}
	if r.cluster.state != nil {
		st = *r.cluster.state
		st.Live, st.Owners, st.Warnings = slices.Clone(st.Live), slices.Clone(st.Owners), slices.Clone(st.Warnings)
	}
	out.Cluster = &st
}

// clusterDrain caps a stream's stop drain in cluster mode at lease_ttl/6, so that a stream
// fenced at ttl×2/3 has closed its socket well before the lease can expire.
func (r *Root) clusterDrain(d time.Duration) time.Duration {
	if r.cluster == nil || r.cfg.Config.Cluster == nil {
		return d
	}
	return min(d, r.cfg.Config.Cluster.LeaseTTL.Duration/6)
}

func streamNames(cfg *config.Config) []string {
	out := make([]string, 0, len(cfg.Streams))
	for _, s := range cfg.Streams {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// LongestReplay is how far back a new owner may resume: lease_ttl (the old owner's last
// renewal to the lease's expiry) plus the longest checkpoint interval plus replayMargin.
func LongestReplay(cfg *config.Config) time.Duration {
	if cfg.Cluster == nil {
		return 0
	}
	var cp time.Duration
	for _, s := range cfg.Streams {
		cp = max(cp, s.Cursor.CheckpointInterval.Duration)
	}
	return cfg.Cluster.LeaseTTL.Duration + cp + replayMargin
}

// jetStreams lists the JetStreams the nats sinks publish to, for the duplicate-window check.
func jetStreams(cfg *config.Config) []actors.JetStreamWindow {
	var out []actors.JetStreamWindow
	for _, s := range cfg.Sinks {
		if s.Kind != sinks.KindNATS || slices.ContainsFunc(out, func(w actors.JetStreamWindow) bool { return w.Name == s.JetStream }) {
			continue
		}
		w := actors.JetStreamWindow{Name: s.JetStream}
		if s.CreateStream {
			w.Configured = s.DuplicateWindow.Duration
		}
		out = append(out, w)
	}
	return out
}
