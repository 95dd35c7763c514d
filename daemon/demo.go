package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/upstream"
)

//go:embed demo.toml
var demoConfig string

// cmdDemo starts the embedded demo upstream on loopback and runs the daemon against it, so a
// newcomer sees routed events (and, with --chaos, recovery) within seconds.
func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := flagSet("demo")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	chaosOn := flagBool(fs, "chaos")
	chaos := &chaosOn
	rate := new(int)
	if _, err := fmt.Sscan(flagString(fs, "rate"), rate); err != nil {
		return usageError{fmt.Errorf("demo: --rate: %w", err)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log, lw := newLogger(stderr, "auto", "info")
	if flagBool(fs, "cluster") {
		stopAfter, _ := time.ParseDuration(flagString(fs, "stop-after"))
		duration, _ := time.ParseDuration(flagString(fs, "duration"))
		if duration <= 0 {
			duration = 1<<63 - 1
		}
		return cmdDemoCluster(ctx, stdout, log.Level(zerolog.WarnLevel), *rate, stopAfter, duration)
	}
	up := upstream.New(upstream.Options{Chaos: *chaos, Log: log.With().Str("actor", "demo-upstream").Logger().Level(zerolog.WarnLevel)})
	if err := up.Start("127.0.0.1:0"); err != nil {
		return fmt.Errorf("demo upstream: %w", err)
	}
	defer up.Close()
	go func() { // start the feed once the daemon listens, so the first event shown is seq 1
		if up.WaitFor(ctx, func() bool { return up.Subscribed() > 0 }) == nil {
			up.Generate(ctx, *rate, 0)
		}
	}()

	cfg, err := config.Parse([]byte(strings.Replace(demoConfig, "UPSTREAM_URL", up.URL(), 1)), "demo.toml")
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	dir, err := os.MkdirTemp("", "holdfast-demo-")
	if err != nil {
		return fmt.Errorf("demo state dir: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg.Daemon.StateDir = dir
	log.Info().Str("upstream", up.URL()).Bool("chaos", *chaos).Msg("demo upstream started; events follow on stdout (Ctrl-C to stop)")
	return serve(ctx, stop, daemonOpts{cfg: cfg, stdout: stdout, log: log, levels: lw})
}
