package supervisor

import (
	"time"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/retry"
)

// Action is what the stream does after its connection failed.
type Action int

const (
	Redial Action = iota // restart the connection after Delay
	Probe                // polling already: try the socket again after Delay; the poller carries on
	GiveUp               // attempts ran out: poll (first probe after Delay) or, without a fallback, fail
	Halt                 // the token was refused and auth.on_failure = stop: nothing more happens
)

func (a Action) String() string {
	switch a {
	case Probe:
		return "probe"
	case GiveUp:
		return "give_up"
	case Halt:
		return "halt"
	}
	return "redial"
}

// Decision is what the stream does after a failure.
type Decision struct {
	Action Action
	Delay  time.Duration // already capped and jittered; 0 when nothing is scheduled
	State  string        // messages.State…: what status shows meanwhile
}

// reconnect is the whole reconnect policy: the stream asks next after every failure and acts
// on the answer. It holds the attempt count and when the link came up; everything else is
// configuration. It does no I/O, reads no clock and runs no timer, so it is tested as a table.
type reconnect struct {
	cfg        config.ReconnectConfig
	stopOnAuth bool          // auth.on_failure = "stop"
	fallback   bool          // a [stream.fallback] exists: giving up hands over to polling
	probeEvery time.Duration // fallback.retry_websocket_every: the wait between probes
	backoff    retry.Backoff

	attempts int       // failed attempts in a row; reset by a stable link or a promotion
	upSince  time.Time // when the current link was ready; zero while it is down
}

// newReconnect builds the policy of sc; draw is the jitter's randomness.
func newReconnect(sc config.StreamConfig, draw retry.Rand) (*reconnect, error) {
	b, err := retry.FromConfig(sc.Reconnect.BackoffConfig, draw)
	r := &reconnect{cfg: sc.Reconnect, stopOnAuth: sc.Auth.OnFailure == config.OnFailureStop, backoff: b,
		fallback: sc.Fallback != nil, probeEvery: sc.Reconnect.MaxDelay.Duration}
	if sc.Fallback != nil {
		r.probeEvery = sc.Fallback.RetryWebsocketEvery.Duration
	}
	return r, err
}

// up records that a link became ready at now.
func (r *reconnect) up(now time.Time) { r.upSince = now }

// reset forgets the failed attempts: the socket is back for good after polling.
func (r *reconnect) reset() { r.attempts = 0 }

// next is the decision after failure f at now; polling says the poller is running, so the
// failure was a probe's. The attempts reset only when the link that failed had stayed up for
// stable_after. Every failure counts as an attempt, a hinted one too. A server's hint (f.Hint)
// is honoured up to max_hint and never shortens the backoff; a server that asked us to slow
// down (close 1013) waits at least max_delay, as a refused token does.
func (r *reconnect) next(now time.Time, polling bool, f *messages.Failure) Decision {
	if !r.upSince.IsZero() && now.Sub(r.upSince) >= r.cfg.StableAfter.Duration {
		r.attempts = 0 // the link proved itself; a flapping one never gets here
	}
	r.upSince = time.Time{}
	if polling {
		return Decision{Action: Probe, Delay: r.probeEvery, State: messages.StatePolling}
	}
	r.attempts++
	hint := min(f.Hint, r.cfg.MaxHint.Duration) // never trust a server's wait without a bound
	if f.Kind == messages.AuthRejected {
		if r.stopOnAuth {
			return Decision{Action: Halt, State: messages.StateAuthFailed}
		}
		return Decision{Action: Redial, Delay: max(r.cfg.MaxDelay.Duration, hint), State: messages.StateAuthFailed}
	}
	if r.cfg.MaxAttempts > 0 && r.attempts > r.cfg.MaxAttempts {
		if r.fallback {
			return Decision{Action: GiveUp, Delay: r.probeEvery, State: messages.StatePolling}
		}
		return Decision{Action: GiveUp, State: messages.StateFailed}
	}
	floor := time.Duration(0)
	if f.SlowDown {
		floor = r.cfg.MaxDelay.Duration
	}
	return Decision{Action: Redial, Delay: max(r.backoff.Delay(r.attempts), hint, floor), State: messages.StateBackoff}
}
