package notify_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"holdfast/actors/actortest"
	"holdfast/notify"
	"holdfast/testsupport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func expect(t *testing.T, conn *net.UnixConn, want ...string) {
	t.Helper()
	for i, w := range want {
		if got := testsupport.NextDatagram(t, conn); got != w {
			t.Fatalf("datagram %d = %q, want %q", i, got, w)
		}
	}
}

func TestNotifierSendsInOrderAndWatchdogFollowsProbe(t *testing.T) {
	conn := testsupport.NotifySocket(t)
	t.Setenv("WATCHDOG_USEC", "100000") // 100ms: the probe gets 50ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	logs := &actortest.Buffer{}
	n := notify.New(zerolog.New(logs))
	if got, want := n.WatchdogInterval(), 100*time.Millisecond; got != want {
		t.Fatalf("WatchdogInterval() = %v, want %v", got, want)
	}

	n.Ready()
	n.Status("connected")
	n.Status("connected") // repeat: not sent
	n.Status("reconnecting")
	expect(t, conn, "READY=1", "STATUS=connected", "STATUS=reconnecting")

	// One probe outcome per tick, in order. The RunWatchdog goroutine alone reads step.
	step := 0
	script := []func(context.Context) error{
		func(context.Context) error { return nil },                              // ok: ping
		func(context.Context) error { return errors.New("root not answering") }, // fails: no ping
		func(ctx context.Context) error { <-ctx.Done(); return nil },            // wedged, answers late: no ping
		func(context.Context) error { panic("bug in probe") },                   // panics: no ping, no crash
		func(context.Context) error { return nil },                              // recovered: ping
		func(context.Context) error { return errors.New("down again") },         // fails: no ping
		func(context.Context) error { return errors.New("still down") },         // same streak: not logged again
	}
	probe := func(ctx context.Context) error { f := script[step]; step++; return f(ctx) }

	ctx, cancel := context.WithCancel(context.Background())
	tick, done := make(chan time.Time), make(chan struct{})
	go func() { defer close(done); n.RunWatchdog(ctx, tick, probe) }()

	tick <- time.Time{}
	expect(t, conn, "WATCHDOG=1")
	// tick is unbuffered: a send returns only once the previous step, ping included, is done.
	// So after the sixth tick, steps 2-5 are complete and step 5's ping is the only one owed.
	for range 5 {
		tick <- time.Time{}
	}
	n.Status("probe failing") // a ping from step 2, 3 or 4 would arrive before this one
	expect(t, conn, "WATCHDOG=1", "STATUS=probe failing")
	tick <- time.Time{} // received only once step 6 (and its log line) is done
	cancel()
	<-done

	if got := strings.Count(logs.String(), "watchdog probe failed"); got != 2 {
		t.Errorf("probe failure logged %d times, want 2 (once per failing streak):\n%s", got, logs)
	}
	if !strings.Contains(logs.String(), "watchdog probe recovered") {
		t.Errorf("recovery not logged:\n%s", logs)
	}
}

func TestNotifierReloadingAndStopping(t *testing.T) {
	conn := testsupport.NotifySocket(t)
	n := notify.New(zerolog.Nop())
	n.Reloading()
	if got := testsupport.NextDatagram(t, conn); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[0-9]+$`).MatchString(got) {
		t.Errorf("reloading datagram = %q, want RELOADING=1 and MONOTONIC_USEC", got)
	}
	n.Ready()
	n.Stopping()
	expect(t, conn, "READY=1", "STOPPING=1")
}

func TestNotifierWithoutSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "100000")
	logs := &actortest.Buffer{}
	n := notify.New(zerolog.New(logs))
	n.Ready()
	n.Reloading()
	n.Status("x")
	n.Stopping()
	if got := n.WatchdogInterval(); got != 0 {
		t.Errorf("WatchdogInterval() = %v, want 0 without NOTIFY_SOCKET", got)
	}
	// Returns at once: neither tick nor ctx would ever fire.
	n.RunWatchdog(context.Background(), nil, func(context.Context) error { return nil })
	if logs.String() != "" {
		t.Errorf("no-op notifier logged:\n%s", logs)
	}
}

func TestNotifierSendFailureWarnsOnce(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent.sock"))
	logs := &actortest.Buffer{}
	n := notify.New(zerolog.New(logs))
	n.Ready()
	n.Status("a")
	n.Status("a") // not recorded as sent, so tried again
	n.Stopping()
	if got := strings.Count(logs.String(), `"level":"warn"`); got != 1 {
		t.Errorf("warned %d times, want 1:\n%s", got, logs)
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tt := range []struct {
		name, usec, pid string
		want            time.Duration
	}{
		{"off when unset", "", "", 0},
		{"WatchdogSec=30s", "30000000", self, 30 * time.Second},
		{"no WATCHDOG_PID applies to us", "30000000", "", 30 * time.Second},
		{"meant for another process", "30000000", "1", 0},
		{"garbage is ignored", "soon", self, 0},
		{"non-positive is ignored", "0", self, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_ = testsupport.NotifySocket(t)
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			if got := notify.New(zerolog.Nop()).WatchdogInterval(); got != tt.want {
				t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: got %v, want %v", tt.usec, tt.pid, got, tt.want)
			}
		})
	}
}
