package bench

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/supervisor"
)

// Spec is the stream a measurement runs, written as TOML and loaded with config.Parse, so the
// bench runs exactly what a config file would. Zero fields keep holdfast's defaults.
type Spec struct {
	URL           string
	Dir           string        // state_dir; the file sink writes Dir/out.jsonl
	FlushInterval time.Duration // file sink flush_interval
	WebhookURL    string        // when set, the sink is a webhook (batch_max 1) instead of the file
	Cursor        bool          // cursor field "seq", as the demo config has
	Heartbeat     [2]time.Duration
	InitialDelay  time.Duration // reconnect initial_delay, with jitter "none"
	StableAfter   time.Duration
	MaxAttempts   int
	PollURL       string // fallback poll_url; "" = no fallback
	PollInterval  time.Duration
	RetryWS       time.Duration // fallback retry_websocket_every
	PromoteAfter  time.Duration
}

// OutFile is where the file sink of spec writes.
func (s Spec) OutFile() string { return filepath.Join(s.Dir, "out.jsonl") }

// TOML renders the config file.
func (s Spec) TOML() string {
	var b strings.Builder
	dur := func(key string, d time.Duration) {
		if d > 0 {
			fmt.Fprintf(&b, "  %s = %q\n", key, d.String())
		}
	}
	fmt.Fprintf(&b, "[daemon]\nstate_dir = %q\n\n[control]\nlisten = \"\"\n\n[[sink]]\nname = \"out\"\n", s.Dir)
	if s.WebhookURL != "" {
		fmt.Fprintf(&b, "kind = \"webhook\"\nurl = %q\n", s.WebhookURL)
	} else {
		fmt.Fprintf(&b, "kind = \"file\"\npath = %q\n", s.OutFile())
		if s.FlushInterval > 0 {
			fmt.Fprintf(&b, "flush_interval = %q\n", s.FlushInterval.String())
		}
	}
	fmt.Fprintf(&b, "\n[[stream]]\nname = \"bench\"\nurl = %q\n", s.URL)
	b.WriteString("  [[stream.subscribe]]\n  message = { type = \"subscribe\", channel = \"processing\" }\n")
	b.WriteString("  [[stream.route]]\n  type = \"*\"\n  sinks = [\"out\"]\n")
	b.WriteString("  [stream.reconnect]\n  jitter = \"none\"\n")
	dur("initial_delay", s.InitialDelay)
	dur("stable_after", s.StableAfter)
	if s.MaxAttempts > 0 {
		fmt.Fprintf(&b, "  max_attempts = %d\n", s.MaxAttempts)
	}
	if s.Heartbeat[0] > 0 {
		b.WriteString("  [stream.heartbeat]\n")
		dur("interval", s.Heartbeat[0])
		dur("timeout", s.Heartbeat[1])
	}
	if s.Cursor {
		b.WriteString("  [stream.cursor]\n  field = \"seq\"\n")
	}
	if s.PollURL != "" {
		fmt.Fprintf(&b, "  [stream.fallback]\n  poll_url = %q\n  jitter = \"none\"\n", s.PollURL)
		dur("interval", s.PollInterval)
		dur("retry_websocket_every", s.RetryWS)
		dur("promote_after", s.PromoteAfter)
	}
	return b.String()
}

// streamConfig parses spec into the stream subtree's config.
func (s Spec) streamConfig() (supervisor.StreamConfig, error) {
	cfg, err := config.Parse([]byte(s.TOML()), "bench.toml")
	if err != nil {
		return supervisor.StreamConfig{}, fmt.Errorf("bench config: %w", err)
	}
	return supervisor.StreamConfigs(cfg, io.Discard)[0], nil
}

// Holdfast is a running actor system with stream subtrees spawned as the daemon spawns
// them, and a status actor recording every StreamState they report.
type Holdfast struct {
	sys     *actor.ActorSystem
	env     actors.Env
	streams []*actor.PID
	Status  *StatusLog
}

// startHoldfast builds the actor system and the env, as daemon/run.go does (metrics on).
func startHoldfast(log zerolog.Logger) *Holdfast {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	st := &StatusLog{changed: make(chan struct{})}
	pid := sys.Root.Spawn(actor.PropsFromFunc(st.receive))
	env := actors.Env{Log: log, Clock: actors.SystemClock{}, Rand: actors.SystemRand, Status: pid, Metrics: metrics.New()}
	return &Holdfast{sys: sys, env: env, Status: st}
}

// spawn starts one stream subtree named name.
func (h *Holdfast) spawn(sc supervisor.StreamConfig, name string) error {
	sc.Stream.Name = name
	pid, err := h.sys.Root.SpawnNamed(supervisor.StreamProps(h.env, sc), name)
	if err != nil {
		return fmt.Errorf("spawn stream %s: %w", name, err)
	}
	h.streams = append(h.streams, pid)
	return nil
}

// RunSpec starts an actor system running the one stream of spec, named "bench".
func RunSpec(spec Spec, log zerolog.Logger) (*Holdfast, error) {
	sc, err := spec.streamConfig()
	if err != nil {
		return nil, err
	}
	h := startHoldfast(log)
	if err := h.spawn(sc, "bench"); err != nil {
		h.Stop()
		return nil, err
	}
	return h, nil
}

// Stop stops every stream (draining the sinks, as shutdown does) and the system.
func (h *Holdfast) Stop() {
	for _, pid := range h.streams {
		_ = h.sys.Root.StopFuture(pid).Wait()
	}
	h.sys.Shutdown()
}

// StateAt is one StreamState and when the bench saw it.
type StateAt struct {
	messages.StreamState
	Seen time.Time
}

// StatusLog records StreamState reports. Safe for concurrent use.
type StatusLog struct {
	mu      sync.Mutex
	states  []StateAt
	latest  map[string]string // stream → state
	counts  map[string]int    // state → streams in it
	changed chan struct{}     // closed and replaced on every report
}

func (l *StatusLog) receive(ctx actor.Context) {
	st, ok := ctx.Message().(*messages.StreamState)
	if !ok {
		return // RouterStats, QueueStats, system messages
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.latest == nil {
		l.latest, l.counts = map[string]string{}, map[string]int{}
	}
	if prev, ok := l.latest[st.Stream]; ok {
		l.counts[prev]--
	}
	l.latest[st.Stream] = st.State
	l.counts[st.State]++
	if len(l.states) < 100000 { // 1,000 streams report a handful each; bound it anyway
		l.states = append(l.states, StateAt{StreamState: *st, Seen: now})
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// Count is how many streams are in state now.
func (l *StatusLog) Count(state string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[state]
}

// Entered counts the reports of state (any stream).
func (l *StatusLog) Entered(state string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.states {
		if s.State == state {
			n++
		}
	}
	return n
}

// WaitFirst returns the first recorded state after index from matching ok, waiting up to d.
// It returns the index after the match, so successive waits walk forward.
func (l *StatusLog) WaitFirst(from int, d time.Duration, ok func(StateAt) bool) (StateAt, int, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for i := from; i < len(l.states); i++ {
			if ok(l.states[i]) {
				s := l.states[i]
				l.mu.Unlock()
				return s, i + 1, nil
			}
		}
		from = len(l.states)
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return StateAt{}, from, fmt.Errorf("no matching stream state within %v", d)
		}
	}
}

// WaitCount waits up to d until n streams are in state.
func (l *StatusLog) WaitCount(state string, n int, d time.Duration) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		got, ch := l.counts[state], l.changed
		l.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("%d of %d streams %s after %v", got, n, state, d)
		}
	}
}
