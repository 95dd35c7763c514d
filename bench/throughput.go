package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/rs/zerolog"
)

// Targets: the bare baseline and holdfast end to end.
const (
	TargetCeiling  = "ceiling"
	TargetHoldfast = "holdfast"
)

// ThroughputConfig describes one throughput run.
type ThroughputConfig struct {
	Target        string // TargetCeiling, TargetHoldfast, TargetNode or TargetNodePlain
	NodeDir       string // where the Node.js client is. Default: DefaultNodeDir.
	N             int    // events. Default: 1,000,000.
	EventSize     int    // bytes per event on the wire. Default: 200.
	Dir           string // empty directory for the output file and holdfast's state
	URL           string // upstream to read; "" = start one in this process and feed it
	FlushInterval time.Duration
	Cursor        bool          // holdfast keeps a "seq" cursor (the demo config does)
	Timeout       time.Duration // bound on the whole run. Default: 10m.
	CPUProfile    io.Writer     // when set, a CPU profile of the timed part is written here
	MemProfile    io.Writer     // when set, an allocation profile of the timed part is written here
	Log           zerolog.Logger
}

// ThroughputResult is one throughput run. Time runs from the first event's sent_at (stamped
// by the upstream) to the moment the output file holds all N lines.
type ThroughputResult struct {
	Target            string
	N                 int
	EventSize         int
	Lines             int // lines in the file afterwards; must equal N
	Seconds           float64
	EventsPerSec      float64
	MBPerSecIn        float64 // N × EventSize (the frames read) per second, in MB (10^6 B)
	MBPerSecOut       float64 // bytes written to the file per second
	FileBytes         int64
	AllocsPerEvent    float64 // runtime Mallocs delta / N, the whole process
	CPUSeconds        float64 // utime+stime delta of the whole process
	PeakRSSMiB        float64 // VmHWM at the end: the process's peak
	UpstreamInProcess bool    // the upstream's work is in the figures above too
	// UpstreamCPUSeconds is the CPU of the process hosting the upstream, over the whole
	// child run, when that is another process (daemon bench's parent); 0 otherwise.
	UpstreamCPUSeconds float64 `json:",omitempty"`
	LoadAvg            string  // /proc/loadavg after the run
	// Skipped says why the target did not run (the Node.js client without node); the figures
	// are then empty.
	Skipped string `json:",omitempty"`
	// ClientProcess: the figures are those of a separate client process (the Node.js
	// client), and allocations are not counted.
	ClientProcess bool `json:",omitempty"`
}

func (c *ThroughputConfig) defaults() {
	if c.N <= 0 {
		c.N = 1_000_000
	}
	if c.EventSize <= 0 {
		c.EventSize = 200
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.NodeDir == "" {
		c.NodeDir = DefaultNodeDir
	}
}

// Throughput runs N events through the target and times them.
func Throughput(ctx context.Context, cfg ThroughputConfig) (ThroughputResult, error) {
	cfg.defaults()
	res := ThroughputResult{Target: cfg.Target, N: cfg.N, EventSize: cfg.EventSize, UpstreamInProcess: cfg.URL == ""}
	if IsNode(cfg.Target) {
		if res.Skipped = NodeMissing(cfg.NodeDir, cfg.Target); res.Skipped != "" {
			return res, nil
		}
		res.ClientProcess = true
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	url, stopFeed, err := feedIfNone(ctx, cfg.URL, cfg.EventSize, throughputHistory, 0, cfg.N)
	if err != nil {
		return res, err
	}
	defer stopFeed()

	spec := Spec{URL: url, Dir: cfg.Dir, FlushInterval: cfg.FlushInterval, Cursor: cfg.Cursor}
	path := spec.OutFile()
	w, err := newWatcher(cfg.Dir)
	if err != nil {
		return res, err
	}
	defer w.Close()

	before, err := ReadProc(true)
	if err != nil {
		return res, err
	}
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return res, fmt.Errorf("cpu profile: %w", err)
		}
	}
	var node *nodeClient
	var stop func() error
	if IsNode(cfg.Target) {
		if node, err = startNode(ctx, cfg.NodeDir, cfg.Target, url, path, cfg.N); err == nil {
			stop = node.stop
		}
	} else {
		stop, err = startTarget(ctx, cfg.Target, spec, cfg.N, false, cfg.Log)
	}
	if err != nil {
		pprof.StopCPUProfile()
		return res, err
	}
	end, werr := waitLastSeq(ctx, w, path, int64(cfg.N), int64(cfg.EventSize)+4096)
	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	if cfg.MemProfile != nil { // sampled allocations since the process started: this run
		if err := pprof.Lookup("allocs").WriteTo(cfg.MemProfile, 0); err != nil {
			return res, fmt.Errorf("memory profile: %w", err)
		}
	}
	after, perr := ReadProc(true)
	serr := stop()
	if werr != nil {
		return res, werr
	}
	if perr != nil {
		return res, perr
	}
	if serr != nil {
		return res, serr
	}

	lines, first, err := scanFile(path)
	if err != nil {
		return res, err
	}
	start, ok := sentAt(first)
	if !ok {
		return res, fmt.Errorf("first line has no sent_at: %.200q", first)
	}
	st, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("stat output: %w", err)
	}
	secs := end.Sub(start).Seconds()
	res.Lines, res.Seconds, res.FileBytes = lines, secs, st.Size()
	res.EventsPerSec = float64(cfg.N) / secs
	res.MBPerSecIn = float64(cfg.N) * float64(cfg.EventSize) / secs / 1e6
	res.MBPerSecOut = float64(st.Size()) / secs / 1e6
	res.AllocsPerEvent = float64(after.Mallocs-before.Mallocs) / float64(cfg.N)
	res.CPUSeconds = (after.CPU - before.CPU).Seconds()
	res.PeakRSSMiB = MiB(after.HWM)
	if node != nil { // the client is the node process, whose run is over
		res.AllocsPerEvent, res.CPUSeconds, res.PeakRSSMiB = 0, node.cpu.Seconds(), MiB(node.rss)
	}
	res.LoadAvg = LoadAvg()
	if lines != cfg.N {
		return res, fmt.Errorf("%s wrote %d lines for %d events", cfg.Target, lines, cfg.N)
	}
	return res, nil
}

// feedIfNone returns url, or starts an in-process feed publishing n events at rate once one
// client subscribed (n < 0: publishing nothing) and returns its URL. stop closes what was
// started.
func feedIfNone(ctx context.Context, url string, size, history, rate, n int) (string, func(), error) {
	if url != "" {
		return url, func() {}, nil
	}
	f, err := StartFeed(size, history)
	if err != nil {
		return "", nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if n >= 0 {
			_, _ = f.Run(fctx, 1, rate, n) // ends with n events or with the run
		}
	}()
	return f.Up.URL(), func() {
		cancel()
		<-done
		_ = f.Close()
	}, nil
}

// startTarget starts the ceiling reading n frames or holdfast running spec, and returns the
// function that stops it.
func startTarget(ctx context.Context, target string, spec Spec, n int, flushEach bool, log zerolog.Logger) (func() error, error) {
	switch target {
	case TargetCeiling:
		c, err := startCeiling(ctx, spec.URL, spec.OutFile(), n, flushEach)
		if err != nil {
			return nil, err
		}
		return c.stop, nil
	case TargetHoldfast:
		h, err := RunSpec(spec, log)
		if err != nil {
			return nil, err
		}
		return func() error { h.Stop(); return nil }, nil
	}
	return nil, fmt.Errorf("unknown target %q", target)
}

// waitLastSeq waits until the last line of path carries seq want, and returns when it saw it.
func waitLastSeq(ctx context.Context, w *watcher, path string, want, tailSize int64) (time.Time, error) {
	buf := make([]byte, tailSize)
	var f *os.File
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	lastSize := int64(-1)
	for {
		if f == nil {
			f, _ = os.Open(path) // not there until the first write
		}
		if f != nil {
			seq, size, err := lastSeq(f, tailSize, buf)
			if err != nil {
				return time.Time{}, err
			}
			if seq >= want {
				return time.Now(), nil
			}
			lastSize = size
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, fmt.Errorf("waiting for seq %d in %s (%d bytes so far): %w", want, path, lastSize, err)
		}
		if err := w.wait(100 * time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}
