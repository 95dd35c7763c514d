package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"
)

// LatencyConfig describes one fixed-rate latency run.
type LatencyConfig struct {
	Target        string
	Rate          int // events per second. Default: 10,000.
	N             int // events. Default: 100,000 (10 s at the default rate).
	EventSize     int // Default: 200.
	Dir           string
	URL           string // "" = in-process upstream
	FlushInterval time.Duration
	Cursor        bool
	Log           zerolog.Logger
}

// Percentiles of a latency sample, in milliseconds.
type Percentiles struct {
	P50, P99, P999, Max float64
}

// LatencyResult is one latency run. File is "visible in the file": the instant the bench,
// woken by inotify on the output directory, read the line, minus the event's sent_at.
// Read (holdfast only) is the envelope's received_at minus sent_at: socket to holdfast's
// reader goroutine, before router, sink and flush.
type LatencyResult struct {
	Target            string
	Rate              int
	N                 int
	EventSize         int
	Lines             int
	File              Percentiles
	Read              *Percentiles `json:",omitempty"`
	PeakRSSMiB        float64
	UpstreamInProcess bool
	LoadAvg           string
}

// Latency publishes N events at Rate and measures each one's arrival in the output file.
func Latency(ctx context.Context, cfg LatencyConfig) (LatencyResult, error) {
	if cfg.Rate <= 0 {
		cfg.Rate = 10_000
	}
	if cfg.N <= 0 {
		cfg.N = 100_000
	}
	if cfg.EventSize <= 0 {
		cfg.EventSize = 200
	}
	res := LatencyResult{Target: cfg.Target, Rate: cfg.Rate, N: cfg.N, EventSize: cfg.EventSize, UpstreamInProcess: cfg.URL == ""}
	// The run should take N/Rate; allow three times that plus a margin before calling it stuck.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Duration(cfg.N)*time.Second/time.Duration(cfg.Rate)+30*time.Second)
	defer cancel()
	url, stopFeed, err := feedIfNone(ctx, cfg.URL, cfg.EventSize, throughputHistory, cfg.Rate, cfg.N)
	if err != nil {
		return res, err
	}
	defer stopFeed()

	spec := Spec{URL: url, Dir: cfg.Dir, FlushInterval: cfg.FlushInterval, Cursor: cfg.Cursor}
	w, err := newWatcher(cfg.Dir)
	if err != nil {
		return res, err
	}
	defer w.Close()
	t := newTailer(spec.OutFile())
	defer t.Close()

	stop, err := startTarget(ctx, cfg.Target, spec, cfg.N, true, cfg.Log)
	if err != nil {
		return res, err
	}
	file := make([]time.Duration, 0, cfg.N)
	var read []time.Duration
	if cfg.Target == TargetHoldfast {
		read = make([]time.Duration, 0, cfg.N)
	}
	var lerr error
	for len(file) < cfg.N && lerr == nil {
		if err := w.wait(100 * time.Millisecond); err != nil {
			lerr = err
			break
		}
		now := time.Now()
		lerr = t.read(func(line []byte) {
			sent, ok := sentAt(line)
			if !ok {
				return
			}
			file = append(file, now.Sub(sent))
			if read != nil {
				if at, ok := receivedAt(line); ok {
					read = append(read, at.Sub(sent))
				}
			}
		})
		if lerr == nil && ctx.Err() != nil {
			lerr = fmt.Errorf("%d of %d lines: %w", len(file), cfg.N, ctx.Err())
		}
	}
	serr := stop()
	if lerr != nil {
		return res, lerr
	}
	if serr != nil {
		return res, serr
	}
	p, err := ReadProc(false)
	if err != nil {
		return res, err
	}
	res.Lines, res.File, res.PeakRSSMiB, res.LoadAvg = len(file), percentiles(file), MiB(p.HWM), LoadAvg()
	if read != nil {
		r := percentiles(read)
		res.Read = &r
	}
	return res, nil
}

// percentiles sorts d in place.
func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(d))), len(d)-1)
		return ms(d[i])
	}
	return Percentiles{P50: at(0.50), P99: at(0.99), P999: at(0.999), Max: ms(d[len(d)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
