package actors

import (
	"fmt"
	"math"
	"time"

	"holdfast/config"
)

// Jitter turns a capped delay into the delay actually waited.
type Jitter func(d time.Duration) time.Duration

// Backoff is a retry schedule: Delay(n) = min(Max, Min*Multiplier^(n-1)), then Jitter.
// Jitter is drawn after the cap so that retries stay spread once they reach Max: clients
// that lose their jitter at the cap stampede a server that comes back.
type Backoff struct {
	Min        time.Duration
	Max        time.Duration
	Multiplier float64 // below 1 means 2
	Jitter     Jitter  // nil = none
}

// Delay returns the wait before retry n (n >= 1).
func (b Backoff) Delay(attempt int) time.Duration {
	return b.jitter(b.Capped(attempt))
}

// Capped returns the delay before retry n without jitter.
func (b Backoff) Capped(attempt int) time.Duration {
	mult := b.Multiplier
	if mult < 1 {
		mult = 2
	}
	d := float64(b.Min) * math.Pow(mult, float64(max(attempt, 1)-1))
	if b.Max > 0 && d >= float64(b.Max) {
		return b.Max
	}
	return time.Duration(d)
}

func (b Backoff) jitter(d time.Duration) time.Duration {
	if b.Jitter == nil {
		return d
	}
	return b.Jitter(d)
}

// JitterFrom builds the Jitter a config names: "none", "full" (uniform[0,d]), "equal"
// (d/2 + uniform[0,d/2]) or a duration to add uniform[0, duration). Default: equal.
func JitterFrom(mode string, draw Rand) (Jitter, error) {
	switch mode {
	case "", "equal":
		return func(d time.Duration) time.Duration { return d/2 + draw(d/2+1) }, nil
	case "full":
		return func(d time.Duration) time.Duration { return draw(d + 1) }, nil
	case "none":
		return nil, nil
	}
	extra, err := time.ParseDuration(mode)
	if err != nil || extra < 0 {
		return nil, fmt.Errorf("jitter %q: want none, full, equal or a duration", mode)
	}
	return func(d time.Duration) time.Duration { return d + draw(extra) }, nil
}

// BackoffFrom builds a Backoff from its config section.
func BackoffFrom(c config.BackoffConfig, draw Rand) (Backoff, error) {
	j, err := JitterFrom(c.Jitter, draw)
	if err != nil {
		return Backoff{}, err
	}
	return Backoff{Min: c.InitialDelay.Duration, Max: c.MaxDelay.Duration, Multiplier: c.Multiplier, Jitter: j}, nil
}
