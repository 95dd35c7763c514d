// Package notify reports the daemon's state to systemd (sd_notify) and feeds its watchdog.
// Every call is a no-op when the process was not started with NOTIFY_SOCKET set.
package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"
)

// errSocketGone: NOTIFY_SOCKET was unset after New saw it.
var errSocketGone = errors.New("NOTIFY_SOCKET no longer set")

// Notifier sends sd_notify datagrams. It is safe for concurrent use; sends are serialized so
// systemd sees them in call order. A failed send is logged at Warn once, then quietly until a
// send succeeds again; it never stops the daemon. The zero value sends nothing.
type Notifier struct {
	log      zerolog.Logger
	enabled  bool          // NOTIFY_SOCKET was set when New ran
	watchdog time.Duration // WATCHDOG_USEC for this process; 0 when off

	mu         sync.Mutex
	lastStatus string // last STATUS= line systemd accepted
	failing    bool   // a send failed and was logged; cleared by the next success
}

// New reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID once. The environment is left set
// (the library reads NOTIFY_SOCKET on every send); NotifyAccess=main makes systemd ignore
// anything a child process might send with it.
func New(log zerolog.Logger) *Notifier {
	n := &Notifier{log: log, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
	if !n.enabled {
		return n
	}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn().Err(err).Msg("watchdog settings ignored")
		wd = 0
	}
	n.watchdog = wd
	return n
}

// Ready sends READY=1: startup, or a reload, is complete.
func (n *Notifier) Ready() { n.send(daemon.SdNotifyReady) }

// Reloading sends RELOADING=1 with MONOTONIC_USEC, which Type=notify-reload (systemd ≥ 253)
// requires and older versions ignore. Follow it with Ready when the reload is done.
func (n *Notifier) Reloading() {
	state := daemon.SdNotifyReloading
	if usec := strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"); usec != "" {
		state += "\n" + usec
	}
	n.send(state)
}

// Stopping sends STOPPING=1: shutdown has begun.
func (n *Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

// Status sends STATUS=line (shown by systemctl status) unless it repeats the last one sent.
func (n *Notifier) Status(line string) {
	if !n.enabled {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if line == n.lastStatus {
		return
	}
	if n.sendLocked("STATUS=" + line) {
		n.lastStatus = line
	}
}

// WatchdogInterval is WatchdogSec= as systemd passed it; 0 when the watchdog is off.
func (n *Notifier) WatchdogInterval() time.Duration { return n.watchdog }

// RunWatchdog sends WATCHDOG=1 on each tick, but only when probe(ctx) returns nil within half
// the watchdog interval: a wedged actor system stops the pings and systemd restarts the unit.
// tick should fire every WatchdogInterval()/2 (main passes a time.Ticker's channel). probe runs
// on the caller's goroutine and must return once its ctx is done; a panic counts as a failure.
// RunWatchdog returns when ctx is done, or at once when the watchdog is off.
func (n *Notifier) RunWatchdog(ctx context.Context, tick <-chan time.Time, probe func(context.Context) error) {
	if n.watchdog <= 0 {
		return
	}
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		if err := runProbe(ctx, n.watchdog/2, probe); err != nil {
			if ctx.Err() != nil {
				return // shutting down: the probe was cancelled, not wedged
			}
			if !failing {
				n.log.Warn().Err(err).Msg("watchdog probe failed; pings withheld")
				failing = true
			}
			continue
		}
		if failing {
			n.log.Info().Msg("watchdog probe recovered")
			failing = false
		}
		n.send(daemon.SdNotifyWatchdog)
	}
}

// runProbe bounds probe by timeout. A nil result that arrives after the deadline still fails.
func runProbe(ctx context.Context, timeout time.Duration, probe func(context.Context) error) (err error) {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("probe: panic: %v", r)
		}
	}()
	if err := probe(pctx); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if err := pctx.Err(); err != nil {
		return fmt.Errorf("probe: answered late: %w", err)
	}
	return nil
}

func (n *Notifier) send(state string) {
	if !n.enabled {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sendLocked(state)
}

// sendLocked sends one datagram and reports whether it went out. Caller holds n.mu.
func (n *Notifier) sendLocked(state string) bool {
	sent, err := daemon.SdNotify(false, state)
	if err == nil && !sent {
		err = errSocketGone
	}
	if err != nil {
		if !n.failing {
			key, _, _ := strings.Cut(state, "=")
			n.log.Warn().Err(err).Str("state", key).Msg("sd_notify failed")
			n.failing = true
		}
		return false
	}
	n.failing = false
	return true
}
