package actors

import (
	"math/rand/v2"
	"time"

	"holdfast/retry"
)

// Timer is a pending AfterFunc; *time.Timer satisfies it.
type Timer interface{ Stop() bool }

// Clock is the only source of time for actors, so tests can move it by hand.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// SystemClock is the real clock that main passes.
type SystemClock struct{}

// Now returns time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc runs f in its own goroutine after d.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Rand draws a uniform duration in [0, n); it is the only randomness actors use, so tests
// can fix it. A non-positive n yields 0. It is retry's Rand: jitter is its one use.
type Rand = retry.Rand

// SystemRand is the real source of randomness that main passes.
func SystemRand(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	return rand.N(n)
}
