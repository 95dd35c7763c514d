// Package retry is the one home of retry timing: the backoff schedule with its jitter, and
// the reader of server wait hints (Retry-After, a close reason in seconds). The reconnect
// policy (supervisor), the poller and the sink workers (actors) all take their delays from
// here; none has a schedule or a hint parser of its own.
//
// The package is a leaf: it holds values and pure functions, no goroutines, no clock reads
// and no randomness of its own (a Rand is injected).
package retry

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"holdfast/config"
)

// Forever is the longest Duration; a hint or a delay that would overflow saturates here.
const Forever = time.Duration(math.MaxInt64)

// Rand draws a uniform duration in [0, n); it is the only randomness retry timing uses, so
// tests can fix it. A non-positive n yields 0.
type Rand func(n time.Duration) time.Duration

// Jitter turns a capped delay into the delay actually waited.
type Jitter func(d time.Duration) time.Duration

// Backoff is a retry schedule: Delay(n) = min(Max, Min*Multiplier^(n-1)), then Jitter.
// Jitter is drawn after the cap so that retries stay spread once they reach Max: clients
// that lose their jitter at the cap stampede a server that comes back. The zero Max means
// no cap (the delay saturates at Forever instead of overflowing).
type Backoff struct {
	Min        time.Duration
	Max        time.Duration // 0 = no cap
	Multiplier float64       // below 1 means 2
	Jitter     Jitter        // nil = none
}

// Delay returns the wait before retry n (n >= 1; lower n counts as 1).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Capped(attempt)
	if b.Jitter == nil {
		return d
	}
	return b.Jitter(d)
}

// Capped returns the delay before retry n without jitter.
func (b Backoff) Capped(attempt int) time.Duration {
	mult := b.Multiplier
	if mult < 1 {
		mult = 2
	}
	limit := Forever
	if b.Max > 0 {
		limit = b.Max
	}
	d := float64(max(b.Min, 0)) * math.Pow(mult, float64(max(attempt, 1)-1))
	if d >= float64(limit) { // +Inf included
		return limit
	}
	return time.Duration(d)
}

// ParseJitter builds the Jitter a config names: none, full (uniform[0,d]), equal
// (d/2 + uniform[0,d/2]) or a duration to add uniform[0, duration). "" means equal.
func ParseJitter(mode config.Jitter, draw Rand) (Jitter, error) {
	switch mode {
	case "", config.JitterEqual:
		return func(d time.Duration) time.Duration { return d/2 + draw(d/2+1) }, nil
	case config.JitterFull:
		return func(d time.Duration) time.Duration { return draw(d + 1) }, nil
	case config.JitterNone:
		return nil, nil
	}
	extra, err := time.ParseDuration(string(mode))
	if err != nil || extra < 0 {
		return nil, fmt.Errorf("jitter %q: want none, full, equal or a duration", mode)
	}
	return func(d time.Duration) time.Duration { return d + draw(extra) }, nil
}

// FromConfig builds a Backoff from its config section.
func FromConfig(c config.BackoffConfig, draw Rand) (Backoff, error) {
	j, err := ParseJitter(c.Jitter, draw)
	if err != nil {
		return Backoff{}, err
	}
	return Backoff{Min: c.InitialDelay.Duration, Max: c.MaxDelay.Duration, Multiplier: c.Multiplier, Jitter: j}, nil
}

// Hint reads a server's wait hint: delay-seconds ("120"), or an HTTP date measured from now.
// It never trusts the server without a bound: the answer is at most limit (so a limit of 0
// ignores hints), and a number of seconds too large for a Duration saturates instead of
// overflowing. An empty, malformed, negative or past value is 0, and so is a date when now
// is zero (no reference clock).
func Hint(v string, now time.Time, limit time.Duration) time.Duration {
	return min(parseHint(v, now), max(limit, 0))
}

func parseHint(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		switch {
		case secs <= 0:
			return 0
		case secs > int64(Forever/time.Second):
			return Forever
		}
		return time.Duration(secs) * time.Second
	}
	if isDigits(v) {
		return Forever // more digits than an int64 holds
	}
	t, err := http.ParseTime(v)
	if err != nil || now.IsZero() || !t.After(now) {
		return 0
	}
	return t.Sub(now)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// RetryAfter reads h's Retry-After header with Hint. An HTTP date is measured against the
// response's own Date header when it has one (the server's clock, so skew does not matter),
// else against now.
func RetryAfter(h http.Header, now time.Time, limit time.Duration) time.Duration {
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		now = d
	}
	return Hint(h.Get("Retry-After"), now, limit)
}
