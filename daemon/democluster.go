package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/natstest"
	"holdfast/supervisor"
	"holdfast/upstream"
)

// demoClusterFeeds is how many feeds the cluster demo runs.
const demoClusterFeeds = 4

// demoClusterConfig is the config both demo instances run; FEEDS is replaced by the streams.
const demoClusterConfig = `
[daemon]
log_level = "warn"
shutdown_timeout = "5s"

[control]
listen = ""

[[sink]]
name = "jetstream"
kind = "nats"
urls = ["NATS_URL"]
jetstream = "DEMO"
create_stream = true
duplicate_window = "2m"

[cluster]
urls = ["NATS_URL"]
lease_ttl = "3s"
bucket = "demo"
FEEDS`

const demoClusterFeed = `
[[stream]]
name = "%s"
url = "%s"
  [[stream.subscribe]]
  message = { type = "subscribe", channel = "processing" }
  [[stream.route]]
  type = "*"
  sinks = ["jetstream"]
  [stream.reconnect]
  initial_delay = "200ms"
  max_delay = "2s"
  [stream.cursor]
  field = "seq"
  checkpoint_interval = "200ms"
`

// demoInstance is one in-process holdfast of the cluster demo.
type demoInstance struct {
	name    string
	sys     *actor.ActorSystem
	root    *actor.PID
	metrics *metrics.Metrics
}

// cmdDemoCluster runs an embedded NATS server, demo feeds and two holdfast instances in one
// process; it stops the first part-way, so its feeds move to the second, and at the end
// shows that JetStream holds every event of every feed exactly once.
func cmdDemoCluster(ctx context.Context, stdout io.Writer, log zerolog.Logger, rate int, stopAfter, duration time.Duration) error {
	dir, err := os.MkdirTemp("", "holdfast-demo-cluster-")
	if err != nil {
		return fmt.Errorf("demo dir: %w", err)
	}
	defer os.RemoveAll(dir)
	ns, err := natstest.Run(natstest.Options{Dir: dir, Name: "holdfast-demo"})
	if err != nil {
		return err
	}
	defer ns.Stop()
	var feeds strings.Builder
	var ups []*upstream.Server
	for i := range demoClusterFeeds {
		up := upstream.New(upstream.Options{Log: zerolog.Nop()})
		if err := up.Start("127.0.0.1:0"); err != nil {
			return fmt.Errorf("demo upstream: %w", err)
		}
		defer up.Close()
		ups = append(ups, up)
		fmt.Fprintf(&feeds, demoClusterFeed, fmt.Sprintf("feed-%d", i+1), up.URL())
	}
	src := strings.ReplaceAll(demoClusterConfig, "NATS_URL", ns.URL())
	cfg, err := config.Parse([]byte(strings.Replace(src, "FEEDS", feeds.String(), 1)), "demo-cluster.toml")
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	genCtx, stopFeeds := context.WithCancel(ctx)
	defer stopFeeds()
	for _, up := range ups {
		go func() { // from the first subscription on: a first subscribe (no cursor) replays nothing
			if up.WaitFor(genCtx, func() bool { return up.Subscribed() > 0 }) == nil {
				up.Generate(genCtx, rate, 0)
			}
		}()
	}

	start := func(name string) (*demoInstance, error) {
		c := *cfg
		cc := *cfg.Cluster
		cc.Instance, c.Cluster = name, &cc
		sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slogBridge(log) }))
		m := metrics.New()
		env := actors.Env{Log: log.With().Str("instance", name).Logger(), Clock: actors.SystemClock{}, Rand: actors.SystemRand, Metrics: m}
		root, err := sys.Root.SpawnNamed(supervisor.RootProps(env, supervisor.RootConfig{Config: &c, Stdout: io.Discard}), "holdfast")
		if err != nil {
			sys.Shutdown()
			return nil, err
		}
		return &demoInstance{name: name, sys: sys, root: root, metrics: m}, nil
	}
	a, err := start("demo-a")
	if err != nil {
		return err
	}
	b, err := start("demo-b")
	if err != nil {
		return err
	}
	defer b.stop()
	fmt.Fprintf(stdout, "cluster demo: NATS %s, %d feeds at %d ev/s, instances demo-a and demo-b (lease_ttl 3s); demo-a stops after %v\n",
		ns.URL(), demoClusterFeeds, rate, stopAfter)

	begin := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	aStopped := false
	for {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		elapsed := time.Since(begin)
		if !aStopped && (elapsed >= stopAfter || ctx.Err() != nil) {
			aStopped = true
			a.stop()
			fmt.Fprintf(stdout, "%5.1fs  demo-a stopped gracefully: %d leases released at once (any other expires within 3s); demo-b takes the feeds over\n",
				elapsed.Seconds(), a.counter("holdfast_cluster_stop_releases_total"))
		}
		if ctx.Err() != nil || elapsed >= duration {
			break
		}
		line := fmt.Sprintf("%5.1fs ", elapsed.Seconds())
		for _, in := range []*demoInstance{a, b} {
			if in == a && aStopped {
				line += " demo-a: stopped        "
				continue
			}
			line += fmt.Sprintf(" %s: %-16s", in.name, strings.Join(in.running(), ","))
		}
		n, _ := natstest.Count(ctx, ns.URL(), "DEMO")
		fmt.Fprintf(stdout, "%s  jetstream: %d events\n", line, n)
	}
	stopFeeds()
	return demoVerify(stdout, ns.URL(), ups)
}

func (in *demoInstance) stop() {
	_ = in.sys.Root.PoisonFuture(in.root).Wait()
	in.sys.Shutdown()
}

// counter reads one of an instance's counters; 0 when it is not there.
func (in *demoInstance) counter(name string) int {
	mfs, err := in.metrics.Registry().Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return int(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	return 0
}

// running lists the feeds an instance runs, connected.
func (in *demoInstance) running() []string {
	res, err := in.sys.Root.RequestFuture(in.root, &messages.GetStatus{}, supervisor.StatusTimeout).Result()
	st, ok := res.(*messages.Status)
	if err != nil || !ok {
		return nil
	}
	var out []string
	for _, s := range st.Streams {
		if s.State == messages.StateConnected {
			out = append(out, s.Stream)
		}
	}
	slices.Sort(out)
	return out
}

// demoVerify waits for the last events to reach JetStream and prints whether each feed's
// every event is stored exactly once.
func demoVerify(stdout io.Writer, url string, ups []*upstream.Server) error {
	var total uint64
	for _, up := range ups {
		total += up.LastSeq()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := natstest.Count(ctx, url, "DEMO")
		if err == nil && n >= total {
			break
		}

		if ctx.Err() != nil {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	ctx, cancel = context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	msgs, err := natstest.Stored(ctx, url, "DEMO")
	if err != nil {
		return fmt.Errorf("read JetStream: %w", err)
	}
	seen := map[string]map[uint64]int{}
	for _, m := range msgs {
		var env struct {
			Stream  string
			Message struct{ Seq uint64 }
		}
		if json.Unmarshal(m.Data, &env) != nil {
			continue
		}
		if seen[env.Stream] == nil {
			seen[env.Stream] = map[uint64]int{}
		}
		seen[env.Stream][env.Message.Seq]++
	}
	bad := 0
	for i, up := range ups {
		feed := fmt.Sprintf("feed-%d", i+1)
		missing, twice := 0, 0
		for seq := uint64(1); seq <= up.LastSeq(); seq++ {
			switch seen[feed][seq] {
			case 0:
				missing++
			case 1:
			default:
				twice++
			}
		}
		bad += missing + twice
		fmt.Fprintf(stdout, "%s: %d events published, %d missing in JetStream, %d stored twice\n", feed, up.LastSeq(), missing, twice)
	}
	if bad > 0 {
		return fmt.Errorf("demo: %d events not stored exactly once", bad)
	}
	fmt.Fprintf(stdout, "every one of %d events is in JetStream exactly once\n", total)
	return nil
}
