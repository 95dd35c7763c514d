package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/config"
	"holdfast/control"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/notify"
	"holdfast/sinks"
	"holdfast/supervisor"
)

// errAllFailed ends the daemon with exit 1 so that systemd's Restart=on-failure acts.
var errAllFailed = errors.New("every stream has failed")

// errShutdownTimedOut ends the daemon with exit 3: the drain did not finish within
// shutdown_timeout, so events or messages it still held were abandoned (and logged).
var errShutdownTimedOut = errors.New("shutdown timed out; work still held was abandoned")

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := flagSet("run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path := configPath(fs)
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	if err := checkEnvironment(path, cfg); err != nil {
		return err
	}
	log, lw := newLogger(stderr, cfg.Daemon.LogFormat, cfg.Daemon.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, stop, daemonOpts{cfg: cfg, path: path, stdout: stdout, log: log, levels: lw})
}

// daemonOpts is what serve needs; run and demo each fill it.
type daemonOpts struct {
	cfg    *config.Config
	path   string // reloaded on SIGHUP; "" = no reload
	stdout io.Writer
	log    zerolog.Logger
	levels *levelWriter // nil = level fixed
	ready  func(*running)
}

// running is a started daemon, handed to opts.ready (demo uses it).
type running struct {
	sys     *actor.ActorSystem
	root    *actor.PID
	metrics *metrics.Metrics
	control *control.Server
}

// serve runs the daemon until ctx ends (the first SIGTERM/SIGINT) or every stream fails.
// stop restores default signal handling, so a second signal kills at once.
func serve(ctx context.Context, stop func(), o daemonOpts) error {
	log := o.log
	notifier := notify.New(log.With().Str("actor", "notify").Logger())
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slogBridge(log) }))
	defer sys.Shutdown()
	m := metrics.New()
	bi := readBuildInfo()
	m.SetBuildInfo(bi.Version, bi.Revision, bi.GoVersion)
	m.Reloaded(true, time.Now())
	procs := sinks.NewGroups()
	env := actors.Env{Log: log, Clock: actors.SystemClock{}, Rand: actors.SystemRand, Metrics: m, Procs: procs}

	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	root, err := sys.Root.SpawnNamed(supervisor.RootProps(env, supervisor.RootConfig{
		Config: o.cfg, Stdout: o.stdout, OnAllFailed: func() { fail(errAllFailed) }}), "holdfast")
	if err != nil {
		return fmt.Errorf("spawn root: %w", err)
	}
	streams := &atomic.Pointer[map[string]bool]{}
	streams.Store(streamSet(o.cfg))
	be := &backend{sys: sys, root: root, streams: streams}
	if err := be.Ping(ctx); err != nil {
		return fmt.Errorf("actor system: %w", err)
	}

	var ctl *control.Server
	if o.cfg.Control.Listen != "" {
		token, err := controlToken(o.cfg.Control)
		if err != nil {
			return usageError{err}
		}
		ctl = control.New(o.cfg.Control, token, be, m, log.With().Str("actor", "control").Logger())
		if err := ctl.Listen(); err != nil {
			return fmt.Errorf("control api: %w", err)
		}
		go func() {
			if err := ctl.Serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Msg("control api stopped")
			}
		}()
	}
	// SIGHUP is caught before READY=1: systemd may reload right after it, and an
	// uncaught SIGHUP would kill the process.
	hup := make(chan os.Signal, 1)
	if o.path != "" {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	notifier.Ready()
	log.Info().Int("streams", len(o.cfg.Streams)).Str("version", version).Msg("holdfast started")
	if o.ready != nil {
		o.ready(&running{sys: sys, root: root, metrics: m, control: ctl})
	}

	var reloadErr atomic.Pointer[string] // a rejected reload's reason, kept in STATUS= until a reload succeeds
	go statusLoop(runCtx, be, notifier, &reloadErr)
	if iv := notifier.WatchdogInterval(); iv > 0 {
		t := time.NewTicker(iv / 2)
		defer t.Stop()
		go notifier.RunWatchdog(runCtx, t.C, be.Ping)
	}
	for waiting := true; waiting; {
		select {
		case <-runCtx.Done():
			waiting = false
		case <-hup:
			reload(o, be, notifier, streams, m, &reloadErr)
		}
	}
	stop()
	cause := context.Cause(runCtx)
	log.Info().Str("why", shutdownReason(cause)).Dur("timeout", o.cfg.Daemon.ShutdownTimeout.Duration).Msg("shutting down")
	notifier.Stopping()
	if ctl != nil {
		ctl.Drain()
	}
	// PoisonFuture gives up after 10s, and shutdown_timeout may be longer: a watcher waits for
	// the root's Terminated instead.
	drained := make(chan struct{})
	sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch msg := ctx.Message().(type) {
		case *actor.Started:
			ctx.Watch(root)
			ctx.Poison(root)
		case *actor.Terminated:
			if msg.Who.Equal(root) {
				close(drained)
			}
		}
	}))
	timedOut := false
	select {
	case <-drained:
		log.Info().Msg("drained")
	case <-time.After(o.cfg.Daemon.ShutdownTimeout.Duration):
		log.Error().Dur("timeout", o.cfg.Daemon.ShutdownTimeout.Duration).Msg("shutdown timed out; exiting anyway")
		logAbandoned(log, m, o.cfg)
		timedOut = true
	}
	if n := procs.KillAll(); n > 0 { // a sink that had not stopped yet: never leave them to PID 1
		log.Warn().Int("process_groups", n).Msg("killed exec sink processes still running")
	}
	if ctl != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = ctl.Shutdown(sctx)
		cancel()
	}
	if errors.Is(cause, errAllFailed) {
		return errAllFailed
	}
	if timedOut {
		return errShutdownTimedOut
	}
	return nil
}

// logAbandoned logs, per sink and per stream, what a timed-out shutdown leaves behind: the
// events sinks were still working on (events still waiting in mailboxes come on top) and the
// queued outbound messages, which a durable queue keeps for the next start.
func logAbandoned(log zerolog.Logger, m *metrics.Metrics, cfg *config.Config) {
	durable := map[string]bool{}
	for _, s := range cfg.Streams {
		durable[s.Name] = s.Queue.Durable
	}
	for _, h := range m.Held() {
		if h.Sink != "" {
			log.Error().Str("stream", h.Stream).Str("sink", h.Sink).Int("events", h.Count).
				Msg("abandoned at shutdown: events not delivered")
			continue
		}
		ev := log.Error()
		if durable[h.Stream] {
			ev = log.Warn() // still in the durable queue: sent after the next start
		}
		ev.Str("stream", h.Stream).Int("messages", h.Count).Bool("durable", durable[h.Stream]).
			Msg("abandoned at shutdown: outbound messages not sent")
	}
}

func shutdownReason(cause error) string {
	if errors.Is(cause, errAllFailed) {
		return cause.Error()
	}
	return "signal"
}

// reload re-reads the config; an invalid one keeps the old config running.
func reload(o daemonOpts, be *backend, n *notify.Notifier, streams *atomic.Pointer[map[string]bool],
	m *metrics.Metrics, rejected *atomic.Pointer[string]) {
	n.Reloading()
	defer n.Ready()
	cfg, err := config.Load(o.path)
	if err == nil {
		err = cfg.CheckEnvironment() // what run checks before READY, a reload checks too
	}
	if err != nil {
		o.log.Error().Err(err).Msg("reload rejected; keeping the running config")
		why := "reload rejected: " + firstLine(err.Error())
		rejected.Store(&why)
		m.Reloaded(false, time.Now())
		n.Status(why)
		return
	}
	rejected.Store(nil)
	m.Reloaded(true, time.Now())
	if o.levels != nil {
		o.levels.set(cfg.Daemon.LogLevel)
	}
	if cfg.Control != o.cfg.Control || cfg.Daemon.StateDir != o.cfg.Daemon.StateDir ||
		cfg.Daemon.LogFormat != o.cfg.Daemon.LogFormat {
		o.log.Warn().Msg("[control], state_dir and log_format changes apply only after a restart")
	}
	if !reflect.DeepEqual(cfg.Cluster, o.cfg.Cluster) { // the Cluster actor keeps what it started with
		o.log.Warn().Msg("[cluster] changes apply only after a restart")
	}
	res, err := be.sys.Root.RequestFuture(be.root, &messages.Reload{Config: cfg}, 30*time.Second).Result()
	if err != nil {
		o.log.Error().Err(err).Msg("reload did not finish")
		return
	}
	streams.Store(streamSet(cfg))
	if r, ok := res.(*messages.Reloaded); ok {
		o.log.Info().Int("added", len(r.Added)).Int("removed", len(r.Removed)).Int("restarted", len(r.Restarted)).Msg("reload applied")
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func streamSet(cfg *config.Config) *map[string]bool {
	set := make(map[string]bool, len(cfg.Streams))
	for _, s := range cfg.Streams {
		set[s.Name] = true
	}
	return &set
}

// statusLoop keeps systemd's STATUS= line current. A rejected reload's reason stays in
// front of the summary until a reload succeeds.
func statusLoop(ctx context.Context, be *backend, n *notify.Notifier, rejected *atomic.Pointer[string]) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if st, err := be.Status(ctx); err == nil {
			line := summary(st)
			if why := rejected.Load(); why != nil {
				line = *why + "; " + line
			}
			n.Status(line)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// summary is the one-line STATUS=, e.g. "2/3 streams connected, 1 polling; queue 4".
func summary(st *messages.Status) string {
	counts := map[string]int{}
	queued := 0
	for _, s := range st.Streams {
		counts[s.State]++
		queued += s.Queue.Depth
	}
	line := fmt.Sprintf("%d/%d streams connected", counts[messages.StateConnected], len(st.Streams))
	for _, state := range []string{messages.StatePolling, messages.StateBackoff, messages.StateConnecting, messages.StateAuthFailed, messages.StateFailed} {
		if counts[state] > 0 {
			line += fmt.Sprintf(", %d %s", counts[state], state)
		}
	}
	return fmt.Sprintf("%s; queue %d", line, queued)
}
