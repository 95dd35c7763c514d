package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"holdfast/messages"
)

// IdleConfig describes the idle measurement: one stream connected, no traffic.
type IdleConfig struct {
	URL  string // "" = in-process upstream (its memory then counts too)
	Dir  string
	Wait time.Duration // after connecting. Default: 5s.
	Log  zerolog.Logger
}

// IdleResult is the process's memory Wait after the stream connected.
type IdleResult struct {
	RSSMiB            float64 // VmRSS
	PeakRSSMiB        float64 // VmHWM
	HeapInuseMiB      float64
	Goroutines        int
	UpstreamInProcess bool
}

// Idle connects one stream with the default heartbeat and measures memory after Wait.
func Idle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	if cfg.Wait <= 0 {
		cfg.Wait = 5 * time.Second
	}
	res := IdleResult{UpstreamInProcess: cfg.URL == ""}
	url, stopFeed, err := feedIfNone(ctx, cfg.URL, 0, 0, 0, -1) // -1: never publish
	if err != nil {
		return res, err
	}
	defer stopFeed()
	h, err := RunSpec(Spec{URL: url, Dir: cfg.Dir}, cfg.Log)
	if err != nil {
		return res, err
	}
	defer h.Stop()
	if err := h.Status.WaitCount("connected", 1, 30*time.Second); err != nil {
		return res, err
	}
	if err := sleep(ctx, cfg.Wait); err != nil {
		return res, err
	}
	p, err := ReadProc(false)
	if err != nil {
		return res, err
	}
	ms := memStats()
	res.RSSMiB, res.PeakRSSMiB, res.HeapInuseMiB, res.Goroutines = MiB(p.RSS), MiB(p.HWM), MiB(int64(ms.HeapInuse)), goroutines()
	return res, nil
}

// StreamsConfig describes the many-streams measurement.
type StreamsConfig struct {
	URL       string // "" = in-process upstream (its CPU and memory then count too)
	Dir       string
	Streams   int           // Default: 1,000.
	Heartbeat time.Duration // ping interval; the timeout is twice it. Default: 1s.
	Window    time.Duration // CPU is averaged over it. Default: 30s.
	Settle    time.Duration // after all connected, before the window. Default: 2s.
	Log       zerolog.Logger
}

// StreamsResult is memory and CPU of one process holding Streams connected, idle streams
// with heartbeats.
type StreamsResult struct {
	Streams            int
	Connected          int // at the end of the window
	ConnectSeconds     float64
	RSSMiB             float64
	PeakRSSMiB         float64
	CPUPercent         float64 // of one core, averaged over the window
	UpstreamCPUPercent float64 `json:",omitempty"` // the upstream's process over a like window, when it runs elsewhere
	WindowSeconds      float64
	Goroutines         int
	UpstreamInProcess  bool
}

// ManyStreams spawns Streams streams against one upstream and measures the steady state.
func ManyStreams(ctx context.Context, cfg StreamsConfig) (StreamsResult, error) {
	if cfg.Streams <= 0 {
		cfg.Streams = 1000
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 30 * time.Second
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	res := StreamsResult{Streams: cfg.Streams, UpstreamInProcess: cfg.URL == ""}
	url, stopFeed, err := feedIfNone(ctx, cfg.URL, 0, 0, 0, -1)
	if err != nil {
		return res, err
	}
	defer stopFeed()
	sc, err := Spec{URL: url, Dir: cfg.Dir, Heartbeat: [2]time.Duration{cfg.Heartbeat, 2 * cfg.Heartbeat}}.streamConfig()
	if err != nil {
		return res, err
	}
	h := startHoldfast(cfg.Log)
	defer h.Stop()
	start := time.Now()
	for i := range cfg.Streams {
		if err := h.spawn(sc, fmt.Sprintf("s%04d", i)); err != nil {
			return res, err
		}
	}
	if err := h.Status.WaitCount("connected", cfg.Streams, 2*time.Minute); err != nil {
		return res, err
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	if err := sleep(ctx, cfg.Settle); err != nil {
		return res, err
	}
	before, err := ReadProc(false)
	if err != nil {
		return res, err
	}
	if err := sleep(ctx, cfg.Window); err != nil {
		return res, err
	}
	after, err := ReadProc(false)
	if err != nil {
		return res, err
	}
	wall := after.At.Sub(before.At)
	res.WindowSeconds = wall.Seconds()
	res.CPUPercent = 100 * (after.CPU - before.CPU).Seconds() / wall.Seconds()
	res.RSSMiB, res.PeakRSSMiB = MiB(after.RSS), MiB(after.HWM)
	res.Connected, res.Goroutines = h.Status.Count("connected"), goroutines()
	return res, nil
}

// SlowSinkConfig describes the slow-sink measurement.
type SlowSinkConfig struct {
	URL        string        // "" = in-process upstream publishing as fast as it can
	WebhookURL string        // "" = in-process receiver answering after Delay
	Delay      time.Duration // per request of the in-process receiver. Default: 1ms.
	EventSize  int           // Default: 200.
	Dir        string
	Duration   time.Duration // Default: 20s.
	Every      time.Duration // RSS sample interval. Default: 500ms.
	Log        zerolog.Logger
}

// SlowSinkResult is the RSS series while the sink holds everything back.
type SlowSinkResult struct {
	Samples           int
	FirstMiB, LastMiB float64
	MinMiB, MaxMiB    float64
	PeakRSSMiB        float64 // VmHWM at the end
	SecondHalfMaxMiB  float64 // the max over the second half: growth with backlog shows here
	Reconnects        int     // times the stream went to backoff (see BENCHMARKS.md: heartbeat vs backpressure)
	Delivered         int64   // requests the receiver answered; -1 when it runs elsewhere
	Published         int64   // events the upstream published; -1 when it runs elsewhere
	Seconds           float64
	InProcess         bool // upstream and receiver run in this process
}

// SlowSink feeds a webhook sink that is much slower than the upstream and samples RSS.
func SlowSink(ctx context.Context, cfg SlowSinkConfig) (SlowSinkResult, error) {
	if cfg.Delay <= 0 {
		cfg.Delay = time.Millisecond
	}
	if cfg.EventSize <= 0 {
		cfg.EventSize = 200
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 20 * time.Second
	}
	if cfg.Every <= 0 {
		cfg.Every = 500 * time.Millisecond
	}
	res := SlowSinkResult{InProcess: cfg.URL == "", Delivered: -1, Published: -1}
	var feed *Feed
	url := cfg.URL
	if url == "" {
		f, err := StartFeed(cfg.EventSize, throughputHistory)
		if err != nil {
			return res, err
		}
		feed = f
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _, _ = f.Run(fctx, 1, 0, 0) }()
		defer func() { cancel(); <-done; _ = f.Close() }()
		url = f.Up.URL()
	}
	var hook *SlowWebhook
	if cfg.WebhookURL == "" {
		hook = NewSlowWebhook(cfg.Delay)
		defer hook.Close()
		cfg.WebhookURL = hook.URL
	}
	h, err := RunSpec(Spec{URL: url, Dir: cfg.Dir, WebhookURL: cfg.WebhookURL}, cfg.Log)
	if err != nil {
		return res, err
	}
	defer h.Stop()
	if err := h.Status.WaitCount("connected", 1, 30*time.Second); err != nil {
		return res, err
	}
	// The window opens once the in-process receiver has answered a request: what is measured
	// is memory while the sink carries events slowly, not the first request's start-up (which a
	// loaded machine may stretch past a short window).
	if hook != nil {
		if err := waitUntil(ctx, 30*time.Second, func() bool { return hook.Requests() > 0 }); err != nil {
			return res, fmt.Errorf("the webhook sink answered no request: %w", err)
		}
	}
	var series []float64
	start := time.Now()
	tick := time.NewTicker(cfg.Every)
	defer tick.Stop()
	for len(series) == 0 || time.Since(start) < cfg.Duration { // at least one sample
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		p, err := ReadProc(false)
		if err != nil {
			return res, err
		}
		series = append(series, MiB(p.RSS))
	}
	p, err := ReadProc(false)
	if err != nil {
		return res, err
	}
	res.Seconds, res.PeakRSSMiB = time.Since(start).Seconds(), MiB(p.HWM)
	res.Samples, res.FirstMiB, res.LastMiB = len(series), series[0], series[len(series)-1]
	res.MinMiB, res.MaxMiB = slices.Min(series), slices.Max(series)
	res.SecondHalfMaxMiB = slices.Max(series[len(series)/2:])
	res.Reconnects = h.Status.Entered(messages.StateBackoff)
	if hook != nil {
		res.Delivered = hook.Requests()
	}
	if feed != nil {
		res.Published = int64(feed.Up.LastSeq())
	}
	return res, nil
}

// waitUntil polls cond until it holds, ctx ends or limit passes.
func waitUntil(ctx context.Context, limit time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
