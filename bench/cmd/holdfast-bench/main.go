// Command holdfast-bench measures holdfast on loopback; see BENCHMARKS.md. It is the
// benchmark's own entry point, so the production binary (./daemon) does not link the harness.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"holdfast/bench"
)

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	err := cmdBench(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "holdfast-bench:", err)
	if errors.As(err, new(usageError)) {
		os.Exit(2)
	}
	os.Exit(1)
}

// parseFlags parses args, turning flag errors (and -h) into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.PrintDefaults()
		}
		return usageError{fmt.Errorf("%s: %w", fs.Name(), err)}
	}
	return nil
}

// benchModes in the order `--modes all` runs them.
const benchModes = "throughput,latency,idle,streams,slowsink,reconnect,halfopen,fallback"

// benchOpts are the flags of holdfast-bench; see BENCHMARKS.md for what each mode measures.
type benchOpts struct {
	modes      string
	n          int
	sizes      string
	rate       int
	latN       int
	flush      time.Duration
	cursor     bool
	streams    int
	window     time.Duration
	idleWait   time.Duration
	slowFor    time.Duration
	slowDelay  time.Duration
	trials     int
	jsonPath   string
	cpuprofile string
	memprofile string
	nodeDir    string
	dir        string
	inProcess  bool
	verbose    bool

	// Set by the parent for a child (hidden).
	only     string
	size     int
	upstream string
	webhook  string
}

func (o *benchOpts) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.modes, "modes", "all", "comma-separated: "+benchModes+" (or all)")
	fs.IntVar(&o.n, "n", 1_000_000, "events per throughput run")
	fs.StringVar(&o.sizes, "sizes", "200,2048", "event sizes in bytes for throughput and latency")
	fs.IntVar(&o.rate, "rate", 10_000, "events per second in latency runs")
	fs.IntVar(&o.latN, "latency-n", 100_000, "events per latency run")
	fs.DurationVar(&o.flush, "flush-interval", 100*time.Millisecond, "file sink flush_interval (the config default is 100ms)")
	fs.BoolVar(&o.cursor, "cursor", true, `holdfast keeps a "seq" cursor in throughput and latency runs`)
	fs.IntVar(&o.streams, "streams", 1000, "streams in the streams mode")
	fs.DurationVar(&o.window, "window", 30*time.Second, "CPU window of the streams mode")
	fs.DurationVar(&o.idleWait, "idle-wait", 5*time.Second, "wait after connecting in the idle mode")
	fs.DurationVar(&o.slowFor, "slow-duration", 20*time.Second, "length of the slowsink mode")
	fs.DurationVar(&o.slowDelay, "slow-delay", time.Millisecond, "per-request delay of the slow webhook")
	fs.IntVar(&o.trials, "trials", 5, "trials per fault mode")
	fs.StringVar(&o.jsonPath, "json", "", `also write every result as JSON to this file ("-" = stdout)`)
	fs.StringVar(&o.nodeDir, "node-dir", bench.DefaultNodeDir, "the Node.js client's directory (run `npm ci` there); its rows are skipped without node")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the holdfast throughput run at the first size")
	fs.StringVar(&o.memprofile, "memprofile", "", "write an allocation profile of the holdfast throughput run at the first size")
	fs.StringVar(&o.dir, "dir", "", "where temporary output goes (default: the system temp dir)")
	fs.BoolVar(&o.inProcess, "in-process", false, "run every mode in this process (peak RSS then mixes modes)")
	fs.BoolVar(&o.verbose, "v", false, "show holdfast's warnings (reconnects, stale links) on stderr")
	fs.StringVar(&o.only, "only", "", "internal: run one child mode and print its JSON")
	fs.IntVar(&o.size, "size", 200, "internal: event size of a child run")
	fs.StringVar(&o.upstream, "upstream", "", "internal: upstream URL hosted by the parent")
	fs.StringVar(&o.webhook, "webhook", "", "internal: slow webhook URL hosted by the parent")
}

// cmdBench measures holdfast on loopback. Each mode runs in a fresh child process (this
// binary with --only), so peak RSS and CPU are that mode's alone; where the parent can host
// the upstream (and the slow webhook) it does, so the child's figures are holdfast's own.
func cmdBench(args []string, stdout, stderr io.Writer) error {
	var o benchOpts
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sizes, err := parseSizes(o.sizes)
	if err != nil {
		return usageError{err}
	}
	level := zerolog.ErrorLevel
	if o.verbose {
		level = zerolog.WarnLevel
	}
	log := zerolog.New(stderr).Level(level).With().Timestamp().Logger()
	ctx := context.Background()
	if o.only != "" {
		res, err := runBenchMode(ctx, &o, o.only, o.size, log)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	}
	modes := strings.Split(benchModes, ",")
	if o.modes != "all" {
		modes = strings.Split(o.modes, ",")
		for _, m := range modes {
			if !slices.Contains(strings.Split(benchModes, ","), m) {
				return usageError{fmt.Errorf("bench: unknown mode %q (want %s or all)", m, benchModes)}
			}
		}
	}
	rep := &bench.Report{Machine: bench.ReadMachine()}
	for _, mode := range modes {
		if err := benchOne(ctx, &o, rep, mode, sizes, stderr, log); err != nil {
			return fmt.Errorf("bench %s: %w", mode, err)
		}
	}
	rep.Machine.LoadAfter = bench.LoadAvg()
	printReport(stdout, rep)
	switch o.jsonPath {
	case "":
	case "-":
		return writeJSON(stdout, rep)
	default:
		f, err := os.Create(o.jsonPath)
		if err != nil {
			return fmt.Errorf("json: %w", err)
		}
		defer f.Close()
		return writeJSON(f, rep)
	}
	return nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bench: --sizes %q: want positive integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// benchOne runs one mode (every size and target it has) and adds the results to rep.
func benchOne(ctx context.Context, o *benchOpts, rep *bench.Report, mode string, sizes []int, stderr io.Writer, log zerolog.Logger) error {
	switch mode {
	case "throughput", "latency":
		for i, size := range sizes {
			targets := []string{bench.TargetCeiling, bench.TargetNode, bench.TargetNodePlain, bench.TargetHoldfast}
			if mode == "latency" {
				targets = []string{bench.TargetCeiling, bench.TargetHoldfast}
			}
			for _, target := range targets {
				only := target
				if mode == "latency" {
					only = "latency-" + target
				}
				fmt.Fprintf(stderr, "bench: %s %s %d B…\n", mode, target, size)
				var extra []string
				if o.cpuprofile != "" && mode == "throughput" && target == bench.TargetHoldfast && i == 0 {
					extra = []string{"--cpuprofile", o.cpuprofile}
				}
				if o.memprofile != "" && mode == "throughput" && target == bench.TargetHoldfast && i == 0 {
					extra = append(extra, "--memprofile", o.memprofile)
				}
				res, err := hostAndRun(ctx, o, only, size, extra, stderr, log)
				if err != nil {
					return err
				}
				switch r := res.(type) {
				case *bench.ThroughputResult:
					rep.Throughput = append(rep.Throughput, *r)
				case *bench.LatencyResult:
					rep.Latency = append(rep.Latency, *r)
				}
			}
		}
		return nil
	case "idle", "streams", "slowsink", "reconnect", "halfopen", "fallback":
		fmt.Fprintf(stderr, "bench: %s…\n", mode)
		res, err := hostAndRun(ctx, o, mode, 200, nil, stderr, log)
		if err != nil {
			return err
		}
		switch r := res.(type) {
		case *bench.IdleResult:
			rep.Idle = r
		case *bench.StreamsResult:
			rep.Streams = r
		case *bench.SlowSinkResult:
			rep.SlowSink = r
		case *[]bench.FaultResult:
			rep.Faults = append(rep.Faults, *r...)
		}
		return nil
	}
	return usageError{fmt.Errorf("bench: unknown mode %q (want %s)", mode, benchModes)}
}

// hostAndRun starts what the parent hosts for mode (the upstream, the slow webhook), runs
// the child, and fills in what only the host can see.
func hostAndRun(ctx context.Context, o *benchOpts, only string, size int, extra []string, stderr io.Writer, log zerolog.Logger) (any, error) {
	if o.inProcess {
		return runBenchMode(ctx, o, only, size, log)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	var feed *bench.Feed
	if only != "reconnect" && only != "halfopen" && only != "fallback" { // those script the upstream
		history := 1000
		if only == "idle" || only == "streams" {
			history = 0
		}
		f, err := bench.StartFeed(size, history)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		feed = f
		extra = append(extra, "--upstream", f.Up.URL())
	}
	fctx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	feedDone := make(chan struct{})
	var hook *bench.SlowWebhook
	upCPU := make(chan float64, 1)
	go func() {
		defer close(feedDone)
		switch only {
		case bench.TargetCeiling, bench.TargetHoldfast, bench.TargetNode, bench.TargetNodePlain:
			_, _ = feed.Run(fctx, 1, 0, o.n)
		case "latency-ceiling", "latency-holdfast":
			_, _ = feed.Run(fctx, 1, o.rate, o.latN)
		case "slowsink":
			_, _ = feed.Run(fctx, 1, 0, 0)
		case "streams":
			upCPU <- hostCPU(fctx, feed, o.streams, o.window)
		}
	}()
	if only == "slowsink" {
		hook = bench.NewSlowWebhook(o.slowDelay)
		defer hook.Close()
		extra = append(extra, "--webhook", hook.URL)
	}
	before, _ := bench.ReadProc(false)
	res, err := runChild(ctx, o, only, size, extra, stderr)
	after, _ := bench.ReadProc(false)
	stopFeed()
	<-feedDone
	if err != nil {
		return nil, err
	}
	switch r := res.(type) {
	case *bench.ThroughputResult:
		r.UpstreamCPUSeconds = (after.CPU - before.CPU).Seconds()
	case *bench.SlowSinkResult:
		r.Delivered, r.Published = hook.Requests(), int64(feed.Up.LastSeq())
	case *bench.StreamsResult:
		select {
		case r.UpstreamCPUPercent = <-upCPU:
		default:
		}
	}
	return res, nil
}

// hostCPU measures this (the upstream's) process over a window like the child's: from 2 s
// after every stream subscribed. It returns -1 when the window did not complete.
func hostCPU(ctx context.Context, feed *bench.Feed, streams int, window time.Duration) float64 {
	if err := feed.Up.WaitFor(ctx, func() bool { return feed.Up.Subscribed() >= streams }); err != nil {
		return -1
	}
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	if !wait(2 * time.Second) {
		return -1
	}
	before, err := bench.ReadProc(false)
	if err != nil || !wait(window) {
		return -1
	}
	after, err := bench.ReadProc(false)
	if err != nil {
		return -1
	}
	return 100 * (after.CPU - before.CPU).Seconds() / after.At.Sub(before.At).Seconds()
}

// runChild re-executes this binary with --only and decodes the JSON it prints.
func runChild(ctx context.Context, o *benchOpts, only string, size int, extra []string, stderr io.Writer) (any, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	args := []string{"--only", only, "--size", strconv.Itoa(size),
		"--n", strconv.Itoa(o.n), "--rate", strconv.Itoa(o.rate), "--latency-n", strconv.Itoa(o.latN),
		"--flush-interval", o.flush.String(), "--cursor=" + strconv.FormatBool(o.cursor),
		"--streams", strconv.Itoa(o.streams), "--window", o.window.String(), "--idle-wait", o.idleWait.String(),
		"--slow-duration", o.slowFor.String(), "--slow-delay", o.slowDelay.String(), "--trials", strconv.Itoa(o.trials),
		"--node-dir", o.nodeDir}
	if o.dir != "" {
		args = append(args, "--dir", o.dir)
	}
	if o.verbose {
		args = append(args, "-v")
	}
	cmd := exec.CommandContext(ctx, self, append(args, extra...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("child %s: %w", only, err)
	}
	res := newBenchResult(only)
	if err := json.Unmarshal(out.Bytes(), res); err != nil {
		return nil, fmt.Errorf("child %s output: %w", only, err)
	}
	return res, nil
}

func newBenchResult(only string) any {
	switch only {
	case bench.TargetCeiling, bench.TargetHoldfast, bench.TargetNode, bench.TargetNodePlain:
		return &bench.ThroughputResult{}
	case "latency-ceiling", "latency-holdfast":
		return &bench.LatencyResult{}
	case "idle":
		return &bench.IdleResult{}
	case "streams":
		return &bench.StreamsResult{}
	case "slowsink":
		return &bench.SlowSinkResult{}
	}
	return &[]bench.FaultResult{}
}

// runBenchMode runs one child mode in this process, in a fresh temporary directory. With
// o.upstream empty the mode starts its own upstream.
func runBenchMode(ctx context.Context, o *benchOpts, only string, size int, log zerolog.Logger) (any, error) {
	dir, err := os.MkdirTemp(o.dir, "holdfast-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	tc := bench.ThroughputConfig{N: o.n, EventSize: size, Dir: dir, URL: o.upstream, FlushInterval: o.flush, Cursor: o.cursor,
		NodeDir: o.nodeDir, Log: log}
	lc := bench.LatencyConfig{Rate: o.rate, N: o.latN, EventSize: size, Dir: dir, URL: o.upstream, FlushInterval: o.flush, Cursor: o.cursor, Log: log}
	switch only {
	case bench.TargetCeiling, bench.TargetHoldfast, bench.TargetNode, bench.TargetNodePlain:
		tc.Target = only
		if o.cpuprofile != "" && only == bench.TargetHoldfast {
			f, err := os.Create(o.cpuprofile)
			if err != nil {
				return nil, fmt.Errorf("cpu profile: %w", err)
			}
			defer f.Close()
			tc.CPUProfile = f
		}
		if o.memprofile != "" && only == bench.TargetHoldfast {
			f, err := os.Create(o.memprofile)
			if err != nil {
				return nil, fmt.Errorf("memory profile: %w", err)
			}
			defer f.Close()
			tc.MemProfile = f
		}
		r, err := bench.Throughput(ctx, tc)
		return &r, err
	case "latency-ceiling", "latency-holdfast":
		lc.Target = strings.TrimPrefix(only, "latency-")
		r, err := bench.Latency(ctx, lc)
		return &r, err
	case "idle":
		r, err := bench.Idle(ctx, bench.IdleConfig{URL: o.upstream, Dir: dir, Wait: o.idleWait, Log: log})
		return &r, err
	case "streams":
		r, err := bench.ManyStreams(ctx, bench.StreamsConfig{URL: o.upstream, Dir: dir, Streams: o.streams, Window: o.window, Log: log})
		return &r, err
	case "slowsink":
		r, err := bench.SlowSink(ctx, bench.SlowSinkConfig{URL: o.upstream, WebhookURL: o.webhook, Delay: o.slowDelay,
			EventSize: size, Dir: dir, Duration: o.slowFor, Log: log})
		return &r, err
	case "reconnect":
		r, err := bench.Reconnect(ctx, bench.ReconnectConfig{Dir: dir, Trials: o.trials, Log: log})
		return &[]bench.FaultResult{r}, err
	case "halfopen":
		r, err := bench.HalfOpen(ctx, bench.HalfOpenConfig{Dir: dir, Trials: o.trials, Log: log})
		return &[]bench.FaultResult{r}, err
	case "fallback":
		a, b, err := bench.Fallback(ctx, bench.FallbackConfig{Dir: dir, Trials: o.trials, Log: log})
		return &[]bench.FaultResult{a, b}, err
	}
	return nil, usageError{errors.New("bench: unknown --only " + only)}
}

// printReport writes the tables BENCHMARKS.md quotes.
func printReport(w io.Writer, r *bench.Report) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d × %s, %.0f MiB, %s; load before %s, after %s\n\n", m.NProc, m.CPUModel, m.MemTotalMiB, m.GoVersion, m.LoadBefore, m.LoadAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(r.Throughput) > 0 {
		fmt.Fprintln(tw, "throughput\tsize B\tevents\tevents/s\tMB/s in\tMB/s out\tvs ceiling\tvs node\tvs node-plain\tallocs/event\tCPU s\tCPU µs/event\tpeak RSS MiB\tupstream CPU s\tupstream µs/event\t")
		ceil, node, plain := map[int]float64{}, map[int]float64{}, map[int]float64{}
		for _, t := range r.Throughput {
			if t.Skipped != "" {
				fmt.Fprintf(tw, "%s\t%d\tskipped: %s\t\n", t.Target, t.EventSize, t.Skipped)
				continue
			}
			ratio, vsNode, vsPlain, allocs := "-", "-", "-", "-"
			switch t.Target {
			case bench.TargetCeiling:
				ceil[t.EventSize] = t.EventsPerSec
			case bench.TargetNode:
				node[t.EventSize] = t.EventsPerSec
			case bench.TargetNodePlain:
				plain[t.EventSize] = t.EventsPerSec
			}
			if c := ceil[t.EventSize]; c > 0 && t.Target != bench.TargetCeiling {
				ratio = fmt.Sprintf("%.2f", t.EventsPerSec/c)
			}
			if c := node[t.EventSize]; c > 0 && t.Target == bench.TargetHoldfast {
				vsNode = fmt.Sprintf("%.2f", t.EventsPerSec/c)
			}
			if c := plain[t.EventSize]; c > 0 && t.Target == bench.TargetHoldfast {
				vsPlain = fmt.Sprintf("%.2f", t.EventsPerSec/c)
			}
			if !t.ClientProcess {
				allocs = fmt.Sprintf("%.1f", t.AllocsPerEvent)
			}
			n := float64(t.N)
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t\n", t.Target, t.EventSize, t.N, t.EventsPerSec,
				t.MBPerSecIn, t.MBPerSecOut, ratio, vsNode, vsPlain, allocs, t.CPUSeconds, t.CPUSeconds/n*1e6, t.PeakRSSMiB,
				t.UpstreamCPUSeconds, t.UpstreamCPUSeconds/n*1e6)
		}
		fmt.Fprintln(tw)
	}
	if len(r.Latency) > 0 {
		fmt.Fprintln(tw, "latency (ms)\tsize B\trate/s\tfile p50\tp99\tp99.9\tmax\tread p50\tp99\tp99.9\tpeak RSS MiB\t")
		for _, l := range r.Latency {
			read := "-\t-\t-"
			if l.Read != nil {
				read = fmt.Sprintf("%.2f\t%.2f\t%.2f", l.Read.P50, l.Read.P99, l.Read.P999)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%.1f\t\n", l.Target, l.EventSize, l.Rate,
				l.File.P50, l.File.P99, l.File.P999, l.File.Max, read, l.PeakRSSMiB)
		}
		fmt.Fprintln(tw)
	}
	if i := r.Idle; i != nil {
		fmt.Fprintf(tw, "idle, 1 stream\tRSS %.1f MiB\tpeak %.1f MiB\theap %.1f MiB\t%d goroutines\t\n\n", i.RSSMiB, i.PeakRSSMiB, i.HeapInuseMiB, i.Goroutines)
	}
	if s := r.Streams; s != nil {
		fmt.Fprintf(tw, "%d streams\tconnected %d in %.1f s\tRSS %.1f MiB\tpeak %.1f MiB\tCPU %.1f%% of a core\tupstream CPU %.1f%%\t%d goroutines\t\n\n",
			s.Streams, s.Connected, s.ConnectSeconds, s.RSSMiB, s.PeakRSSMiB, s.CPUPercent, s.UpstreamCPUPercent, s.Goroutines)
	}
	if s := r.SlowSink; s != nil {
		fmt.Fprintf(tw, "slow sink\t%d samples over %.0f s\tRSS min %.1f\tmax %.1f\tsecond-half max %.1f MiB\tdelivered %d (%.0f/s)\tpublished %d\treconnects %d\t\n\n",
			s.Samples, s.Seconds, s.MinMiB, s.MaxMiB, s.SecondHalfMaxMiB, s.Delivered, float64(s.Delivered)/s.Seconds, s.Published, s.Reconnects)
	}
	tw.Flush()
	for _, f := range r.Faults {
		fmt.Fprintf(w, "%s (%s)\n", f.Fault, f.Settings)
		for i, t := range f.Trials {
			fmt.Fprintf(w, "  trial %d:", i+1)
			if f.Fault == "drop" || f.Fault == "half-open" {
				fmt.Fprintf(w, " down reported %.1f ms,", t.DetectMs)
			}
			fmt.Fprintf(w, " first event read %.0f ms, in file %.0f ms", t.ReadMs, t.FileMs)
			if t.PromoMs > 0 {
				fmt.Fprintf(w, ", promoted %.0f ms", t.PromoMs)
			}
			fmt.Fprintln(w)
		}
	}
}
