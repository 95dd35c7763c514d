package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"holdfast/messages"
)

// seenLine is one output line as the bench saw it arrive.
type seenLine struct {
	At       time.Time // when the line reached the file (inotify wake)
	Received time.Time // envelope received_at
	Via      string
}

// lineLog tails the output file in a goroutine and records every line. Safe for
// concurrent use.
type lineLog struct {
	mu      sync.Mutex
	lines   []seenLine
	changed chan struct{}
	err     error
	stop    context.CancelFunc
	done    chan struct{}
}

// watchLines starts tailing path (in dir) until Close.
func watchLines(ctx context.Context, dir, path string) (*lineLog, error) {
	w, err := newWatcher(dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &lineLog{changed: make(chan struct{}), stop: cancel, done: make(chan struct{})}
	t := newTailer(path)
	go func() {
		defer close(l.done)
		defer w.Close()
		defer t.Close()
		for ctx.Err() == nil {
			if err := w.wait(50 * time.Millisecond); err != nil {
				l.fail(err)
				return
			}
			now := time.Now()
			var batch []seenLine
			if err := t.read(func(line []byte) {
				via, _ := strField(line, "via")
				rec, _ := receivedAt(line)
				batch = append(batch, seenLine{At: now, Received: rec, Via: via})
			}); err != nil {
				l.fail(err)
				return
			}
			if len(batch) > 0 {
				l.mu.Lock()
				if len(l.lines) < 1_000_000 { // bounded: fault runs publish far fewer
					l.lines = append(l.lines, batch...)
				}
				close(l.changed)
				l.changed = make(chan struct{})
				l.mu.Unlock()
			}
		}
	}()
	return l, nil
}

func (l *lineLog) fail(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

// first waits up to d for the first line received after since whose via matches (any when
// via is ""), and returns it.
func (l *lineLog) first(since time.Time, via string, d time.Duration) (seenLine, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	from := 0
	for {
		l.mu.Lock()
		for ; from < len(l.lines); from++ {
			s := l.lines[from]
			if s.Received.After(since) && (via == "" || s.Via == via) {
				l.mu.Unlock()
				return s, nil
			}
		}
		ch, err := l.changed, l.err
		l.mu.Unlock()
		if err != nil {
			return seenLine{}, err
		}
		select {
		case <-ch:
		case <-deadline.C:
			return seenLine{}, fmt.Errorf("no line via %q received after the fault within %v", via, d)
		}
	}
}

func (l *lineLog) Close() {
	l.stop()
	<-l.done
}

// faultRig is an in-process upstream publishing at a steady rate, holdfast reading it into
// the file sink, and the output watched line by line.
type faultRig struct {
	feed   *Feed
	h      *Holdfast
	lines  *lineLog
	cancel context.CancelFunc
	done   chan struct{}
}

func startRig(ctx context.Context, spec Spec, rate int, log zerolog.Logger) (*faultRig, error) {
	f, err := StartFeed(0, 0)
	if err != nil {
		return nil, err
	}
	spec.URL = f.Up.URL()
	if spec.PollURL == "-" {
		spec.PollURL = f.Up.PollURL()
	}
	fctx, cancel := context.WithCancel(ctx)
	r := &faultRig{feed: f, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); _, _ = f.Run(fctx, 1, rate, 0) }()
	if r.lines, err = watchLines(ctx, spec.Dir, spec.OutFile()); err != nil {
		r.Close()
		return nil, err
	}
	if r.h, err = RunSpec(spec, log); err != nil {
		r.Close()
		return nil, err
	}
	if _, err := r.lines.first(time.Time{}, messages.ViaWebSocket, 30*time.Second); err != nil {
		r.Close()
		return nil, fmt.Errorf("first event: %w", err)
	}
	return r, nil
}

func (r *faultRig) Close() {
	if r.h != nil {
		r.h.Stop()
	}
	r.cancel()
	<-r.done
	if r.lines != nil {
		r.lines.Close()
	}
	_ = r.feed.Close()
}

// Trial is one fault and how long recovery took, in milliseconds from the fault.
type Trial struct {
	DetectMs float64 `json:",omitempty"` // the stream reported the link down (backoff state)
	ReadMs   float64 // the first event after the fault reached holdfast (its received_at)
	FileMs   float64 // that event reached the output file
	PromoMs  float64 `json:",omitempty"` // fallback only: the stream reported connected again
}

// FaultResult is a series of trials of one fault.
type FaultResult struct {
	Fault    string
	Trials   []Trial
	Settings string // the configuration that matters for the expected time
}

// ReconnectConfig describes the abrupt-drop measurement.
type ReconnectConfig struct {
	Dir          string
	Trials       int           // Default: 5.
	Rate         int           // events per second. Default: 1,000.
	InitialDelay time.Duration // Default: 100ms.
	Log          zerolog.Logger
}

// Reconnect drops the TCP connection (no close frame) and times the first event after it.
func Reconnect(ctx context.Context, cfg ReconnectConfig) (FaultResult, error) {
	cfg.Trials, cfg.Rate = orInt(cfg.Trials, 5), orInt(cfg.Rate, 1000)
	if cfg.InitialDelay <= 0 {
		cfg.InitialDelay = 100 * time.Millisecond
	}
	res := FaultResult{Fault: "drop", Settings: fmt.Sprintf("initial_delay=%v jitter=none stable_after=1s cursor=seq rate=%d/s", cfg.InitialDelay, cfg.Rate)}
	spec := Spec{Dir: cfg.Dir, Cursor: true, InitialDelay: cfg.InitialDelay, StableAfter: time.Second}
	r, err := startRig(ctx, spec, cfg.Rate, cfg.Log)
	if err != nil {
		return res, err
	}
	defer r.Close()
	res.Trials, err = r.downTrials(ctx, cfg.Trials, 10*time.Second,
		func() time.Duration { return 1500 * time.Millisecond }, // past stable_after: attempts reset
		r.feed.Up.DropConnections, func() {})
	return res, err
}

// downTrials runs n trials of a fault: after pause, inject it and time until the stream reports
// backoff (within detect) and until the first event after that is read and written. Frames
// already in the socket buffer are still read after the fault; the backoff report comes after
// the reader hit its end, so a line received after it is from the new connection.
func (r *faultRig) downTrials(ctx context.Context, n int, detect time.Duration, pause func() time.Duration,
	inject, heal func()) ([]Trial, error) {
	var trials []Trial
	mark := 0
	for range n {
		if err := sleep(ctx, pause()); err != nil {
			return trials, err
		}
		t0 := time.Now()
		inject()
		st, next, err := r.h.Status.WaitFirst(mark, detect, func(s StateAt) bool { return s.State == messages.StateBackoff })
		heal()
		if err != nil {
			return trials, err
		}
		mark = next
		l, err := r.lines.first(st.Seen, "", 10*time.Second)
		if err != nil {
			return trials, err
		}
		trials = append(trials, Trial{DetectMs: ms(st.Seen.Sub(t0)), ReadMs: ms(l.Received.Sub(t0)), FileMs: ms(l.At.Sub(t0))})
	}
	return trials, nil
}

// HalfOpenConfig describes the half-open measurement.
type HalfOpenConfig struct {
	Dir      string
	Trials   int           // Default: 3.
	Interval time.Duration // heartbeat interval. Default: 1s.
	Timeout  time.Duration // heartbeat timeout. Default: 2s.
	Log      zerolog.Logger
}

// HalfOpen freezes the connection (nothing read or written, socket left open) and times
// until the stream declares it dead. DetectMs is the figure; ReadMs and FileMs time the
// first event after the fault, which the upstream publishes at 100/s.
func HalfOpen(ctx context.Context, cfg HalfOpenConfig) (FaultResult, error) {
	cfg.Trials = orInt(cfg.Trials, 3)
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	res := FaultResult{Fault: "half-open", Settings: fmt.Sprintf("heartbeat interval=%v timeout=%v (detection expected in [timeout, timeout+interval]) initial_delay=100ms", cfg.Interval, cfg.Timeout)}
	spec := Spec{Dir: cfg.Dir, Cursor: true, InitialDelay: 100 * time.Millisecond, StableAfter: time.Second,
		Heartbeat: [2]time.Duration{cfg.Interval, cfg.Timeout}}
	r, err := startRig(ctx, spec, 100, cfg.Log)
	if err != nil {
		return res, err
	}
	defer r.Close()
	res.Trials, err = r.downTrials(ctx, cfg.Trials, cfg.Timeout+cfg.Interval+10*time.Second,
		// A random phase against the ping schedule, so trials sample [timeout, timeout+interval].
		func() time.Duration { return 1500*time.Millisecond + rand.N(cfg.Interval) },
		func() { r.feed.Up.Freeze(true) },
		func() { r.feed.Up.Freeze(false) }) // the new connection is not frozen; this frees the old one
	return res, err
}

// FallbackConfig describes the transport-switch measurement.
type FallbackConfig struct {
	Dir          string
	Trials       int           // Default: 3.
	Rate         int           // Default: 100 events/s.
	RetryWS      time.Duration // retry_websocket_every. Default: 2s.
	PromoteAfter time.Duration // Default: 1s.
	PollInterval time.Duration // fallback interval. Default: 1s.
	Log          zerolog.Logger
}

// Fallback refuses upgrades (503) and drops the socket, timing the first event via poll;
// then accepts again, timing the first event via the socket and the promotion.
func Fallback(ctx context.Context, cfg FallbackConfig) (ws2poll, poll2ws FaultResult, err error) {
	cfg.Trials, cfg.Rate = orInt(cfg.Trials, 3), orInt(cfg.Rate, 100)
	if cfg.RetryWS <= 0 {
		cfg.RetryWS = 2 * time.Second
	}
	if cfg.PromoteAfter <= 0 {
		cfg.PromoteAfter = time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	settings := fmt.Sprintf("max_attempts=2 initial_delay=100ms jitter=none poll interval=%v retry_websocket_every=%v promote_after=%v rate=%d/s",
		cfg.PollInterval, cfg.RetryWS, cfg.PromoteAfter, cfg.Rate)
	ws2poll = FaultResult{Fault: "websocket→poll", Settings: settings}
	poll2ws = FaultResult{Fault: "poll→websocket", Settings: settings}
	spec := Spec{Dir: cfg.Dir, Cursor: true, InitialDelay: 100 * time.Millisecond, MaxAttempts: 2, PollURL: "-",
		PollInterval: cfg.PollInterval, RetryWS: cfg.RetryWS, PromoteAfter: cfg.PromoteAfter}
	r, err := startRig(ctx, spec, cfg.Rate, cfg.Log)
	if err != nil {
		return ws2poll, poll2ws, err
	}
	defer r.Close()
	mark := 0
	for range cfg.Trials {
		if err := sleep(ctx, time.Second); err != nil {
			return ws2poll, poll2ws, err
		}
		t0 := time.Now()
		r.feed.Up.RefuseUpgrades(503, "")
		r.feed.Up.DropConnections()
		l, err := r.lines.first(t0, messages.ViaPoll, 30*time.Second)
		if err != nil {
			return ws2poll, poll2ws, err
		}
		ws2poll.Trials = append(ws2poll.Trials, Trial{ReadMs: ms(l.Received.Sub(t0)), FileMs: ms(l.At.Sub(t0))})

		// Let the poller run a little, then accept again at a random phase of the probe
		// schedule, so the trials sample the whole [0, retry_websocket_every) wait.
		if err := sleep(ctx, cfg.PollInterval+500*time.Millisecond+rand.N(cfg.RetryWS)); err != nil {
			return ws2poll, poll2ws, err
		}
		_, next, err := r.h.Status.WaitFirst(mark, 10*time.Second, func(s StateAt) bool { return s.State == messages.StatePolling })
		if err != nil {
			return ws2poll, poll2ws, err
		}
		t1 := time.Now()
		r.feed.Up.RefuseUpgrades(0, "")
		l, err = r.lines.first(t1, messages.ViaWebSocket, cfg.RetryWS+cfg.PromoteAfter+30*time.Second)
		if err != nil {
			return ws2poll, poll2ws, err
		}
		st, next, err := r.h.Status.WaitFirst(next, cfg.RetryWS+cfg.PromoteAfter+30*time.Second,
			func(s StateAt) bool { return s.State == messages.StateConnected && s.Seen.After(t1) })
		if err != nil {
			return ws2poll, poll2ws, err
		}
		mark = next
		poll2ws.Trials = append(poll2ws.Trials, Trial{ReadMs: ms(l.Received.Sub(t1)), FileMs: ms(l.At.Sub(t1)), PromoMs: ms(st.Seen.Sub(t1))})
	}
	return ws2poll, poll2ws, nil
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
