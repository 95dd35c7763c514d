// Command holdfast-jsbench measures holdfast's JetStream side on loopback (see BENCHMARKS.md):
// the nats sink's throughput next to raw nats.go asynchronous publishing into the same
// in-process server in the same run, and cluster failover time (SIGKILL of the owner to the
// first event the new owner publishes) over repeated trials with two built daemons.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/natstest"
	"holdfast/sinks"
	"holdfast/upstream"
	"holdfast/wire"
)

func main() {
	fs := flag.NewFlagSet("holdfast-jsbench", flag.ContinueOnError)
	n := fs.Int("n", 200000, "events per throughput run")
	sizes := fs.String("sizes", "200,2048", "event sizes in bytes")
	runs := fs.Int("runs", 3, "throughput runs per row")
	pending := fs.Int("max-pending", 256, "unacknowledged publishes at most (both sides)")
	trials := fs.Int("trials", 10, "failover trials; 0 skips them")
	bin := fs.String("holdfast", "", "the holdfast binary for the failover trials (go build -o holdfast ./daemon)")
	ttl := fs.Duration("lease-ttl", 3*time.Second, "lease_ttl of the failover trials")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(*n, *sizes, *runs, *pending, *trials, *bin, *ttl); err != nil {
		fmt.Fprintln(os.Stderr, "holdfast-jsbench:", err)
		os.Exit(1)
	}
}

func run(n int, sizes string, runs, pending, trials int, bin string, ttl time.Duration) error {
	dir, err := os.MkdirTemp("", "holdfast-jsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("# load before: %s", loadavg())
	for _, f := range strings.Split(sizes, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("--sizes: %w", err)
		}
		var raw, sink []float64
		for r := range runs {
			rr, err := throughput(filepath.Join(dir, fmt.Sprintf("raw-%d-%d", size, r)), n, size, pending, false)
			if err != nil {
				return fmt.Errorf("raw: %w", err)
			}
			sr, err := throughput(filepath.Join(dir, fmt.Sprintf("sink-%d-%d", size, r)), n, size, pending, true)
			if err != nil {
				return fmt.Errorf("sink: %w", err)
			}
			raw, sink = append(raw, rr), append(sink, sr)
			fmt.Printf("size %5d B run %d: raw nats.go %8.0f ev/s   holdfast nats sink %8.0f ev/s  (%.2f of raw)\n", size, r+1, rr, sr, sr/rr)
		}
		fmt.Printf("size %5d B median:  raw nats.go %8.0f ev/s   holdfast nats sink %8.0f ev/s  (%.2f of raw)\n", size, median(raw), median(sink), median(sink)/median(raw))
	}
	fmt.Printf("# load after throughput: %s", loadavg())
	if trials > 0 {
		if bin == "" {
			return errors.New("--holdfast is required for the failover trials (or --trials 0)")
		}
		var took []time.Duration
		for i := range trials {
			d, err := failover(filepath.Join(dir, fmt.Sprintf("failover-%d", i)), bin, ttl)
			if err != nil {
				return fmt.Errorf("failover trial %d: %w", i+1, err)
			}
			took = append(took, d)
			fmt.Printf("failover trial %2d: %v\n", i+1, d.Round(time.Millisecond))
		}
		slices.Sort(took)
		fmt.Printf("failover (lease_ttl %v, %d trials): min %v  p50 %v  p90 %v  max %v\n", ttl, len(took),
			took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond),
			took[len(took)*9/10].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
		fmt.Printf("# load after failover: %s", loadavg())
	}
	return nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return string(b)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// line is an envelope of about size bytes, like the router builds.
func line(size int, seq int) []byte {
	msg := fmt.Sprintf(`{"type":"tick","seq":%d,"pad":"`, seq)
	pad := max(size-len(msg)-2-120, 0)
	body := msg + strings.Repeat("x", pad) + `"}`
	return wire.AppendEnvelope(nil, "bench", "tick", "websocket", time.Unix(0, 0), []byte(body))
}

// throughput publishes n events of size bytes to a fresh JetStream (file storage, one
// replica) on a fresh server and returns events per second until the last PubAck: with raw
// nats.go PublishMsgAsync (at most pending unacknowledged) or through holdfast's sink actor
// (Deliver messages in, SinkDone when acknowledged).
func throughput(dir string, n, size, pending int, viaSink bool) (float64, error) {
	ns, err := natstest.Run(natstest.Options{Dir: dir})
	if err != nil {
		return 0, err
	}
	defer ns.Stop()
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = line(size, i+1)
	}
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(pending))
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	sc := jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"holdfast.>"}, Storage: jetstream.FileStorage,
		Replicas: 1, Duplicates: 2 * time.Minute}
	if _, err := js.CreateStream(ctx, sc); err != nil {
		return 0, err
	}
	if !viaSink {
		start := time.Now()
		for i, l := range lines {
			msg := &nats.Msg{Subject: "holdfast.bench.tick", Data: l, Header: nats.Header{"Nats-Msg-Id": []string{"bench/" + strconv.Itoa(i+1)}}}
			if _, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(time.Minute)); err != nil {
				return 0, err
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(5 * time.Minute):
			return 0, errors.New("acks did not arrive within 5m")
		}
		return float64(n) / time.Since(start).Seconds(), nil
	}
	return viaSinkActor(ns.URL(), lines, pending)
}

// viaSinkActor drives holdfast's sink actor for a nats sink, as the router does.
func viaSinkActor(url string, lines [][]byte, pending int) (float64, error) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer sys.Shutdown()
	var done atomic.Uint64
	finished := make(chan struct{})
	n := uint64(len(lines))
	cursor := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*messages.SinkDone); ok && done.Load() < n {
			done.Store(m.UpTo)
			if m.UpTo >= n {
				close(finished)
			}
		}
	}))
	cfg := config.DefaultSinkConfig()
	cfg.Name, cfg.Kind, cfg.URLs, cfg.JetStream, cfg.MaxPending = "js", sinks.KindNATS, []string{url}, "BENCH", pending
	cfg.Timeout = config.Duration{Duration: 10 * time.Second}
	env := actors.Env{Log: zerolog.Nop(), Clock: actors.SystemClock{}, Rand: actors.SystemRand, Metrics: metrics.New()}
	peers := actors.Peers{Cursor: cursor, Sinks: map[string]*actor.PID{}}
	pid, err := sys.Root.SpawnNamed(actors.SinkProps(env, cfg, "bench", peers, io.Discard), "sink-js")
	if err != nil {
		return 0, err
	}
	defer func() { _ = sys.Root.StopFuture(pid).Wait() }()
	start := time.Now()
	for i, l := range lines {
		sys.Root.Send(pid, &messages.Deliver{Event: messages.Event{Stream: "bench", Type: "tick", Offset: uint64(i + 1),
			Cursor: strconv.Itoa(i + 1), Line: l}})
	}
	select {
	case <-finished:
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("%d of %d acknowledged within 5m", done.Load(), n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// failover runs one trial: two daemons share one stream fed at 1,000 events/s; the owner
// is SIGKILLed, and the time to the first event the other publishes is returned.
func failover(dir, bin string, ttl time.Duration) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	ns, err := natstest.Run(natstest.Options{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		return 0, err
	}
	defer ns.Stop()
	up := upstream.New(upstream.Options{Log: zerolog.Nop()})
	if err := up.Start("127.0.0.1:0"); err != nil {
		return 0, err
	}
	defer up.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if up.WaitFor(ctx, func() bool { return up.Subscribed() > 0 }) == nil {
			up.Generate(ctx, 1000, 0)
		}
	}()
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	var last atomic.Int64 // unix nanos of the last publish seen on the subjects
	sub, err := nc.Subscribe("holdfast.>", func(*nats.Msg) { last.Store(time.Now().UnixNano()) })
	if err != nil {
		return 0, err
	}
	defer func() { _ = sub.Unsubscribe() }()

	start := func(name string) (*exec.Cmd, error) {
		cfgPath := filepath.Join(dir, name+".toml")
		cfg := fmt.Sprintf(`[daemon]
log_level = "warn"
state_dir = %q
[control]
listen = ""
[[sink]]
name = "js"
kind = "nats"
urls = [%q]
jetstream = "EVENTS"
create_stream = true
[cluster]
urls = [%q]
instance = %q
lease_ttl = %q
[[stream]]
name = "feed"
url = %q
  [[stream.subscribe]]
  message = { type = "subscribe", channel = "processing" }
  [[stream.route]]
  type = "*"
  sinks = ["js"]
  [stream.cursor]
  field = "seq"
  checkpoint_interval = "200ms"
`, filepath.Join(dir, name), ns.URL(), ns.URL(), name, ttl.String(), up.URL())
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "run", "--config", cfgPath)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		return cmd, cmd.Start()
	}
	wait := func(what string, limit time.Duration, cond func() bool) error {
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				return fmt.Errorf("no %s within %v", what, limit)
			}
			time.Sleep(5 * time.Millisecond) // a load generator's poll, bounded by the deadline
		}
		return nil
	}
	a, err := start("a")
	if err != nil {
		return 0, err
	}
	defer func() { _ = a.Process.Kill(); _ = a.Wait() }()
	if err := wait("event from a", 20*time.Second, func() bool { return last.Load() != 0 }); err != nil {
		return 0, err
	}
	b, err := start("b")
	if err != nil {
		return 0, err
	}
	defer func() { _ = b.Process.Signal(syscall.SIGTERM); _ = b.Wait() }()
	time.Sleep(2 * time.Second) // b joins and scans; one stream stays with a
	if err := a.Process.Kill(); err != nil {
		return 0, err
	}
	killed := time.Now()
	_ = a.Wait()
	// Whatever a had written is on the server within a few ms of the kill; the next publish
	// after that is b's. 100 ms of silence separates them (the feed runs at 1,000/s).
	guard := killed.Add(100 * time.Millisecond)
	if err := wait("event from b", 10*ttl, func() bool { return time.Unix(0, last.Load()).After(guard) }); err != nil {
		return 0, err
	}
	return time.Unix(0, last.Load()).Sub(killed), nil
}
