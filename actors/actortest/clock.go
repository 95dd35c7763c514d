// Package actortest has what actor tests share: a manual clock, a probe actor and Expect.
package actortest

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"holdfast/actors"
)

// Clock is a manual actors.Clock: time moves only through Advance.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*timer
}

type timer struct {
	c    *Clock
	at   time.Time
	seq  int
	f    func()
	done bool
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f for when Advance passes now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) actors.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop cancels the timer; it reports whether it was still pending.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	return true
}

// Advance moves time forward by d, running every callback that falls due, in time order,
// before it returns. Callbacks run on the caller's goroutine without the lock held.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		next := c.nextDue(end)
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// Pending reports how many timers are armed; tests use it to wait until an actor armed one.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// nextDue returns the earliest pending timer due by end, dropping finished ones. Lock held.
func (c *Clock) nextDue(end time.Time) *timer {
	live := c.timers[:0]
	for _, t := range c.timers {
		if !t.done {
			live = append(live, t)
		}
	}
	c.timers = live
	sort.SliceStable(live, func(i, j int) bool {
		if live[i].at.Equal(live[j].at) {
			return live[i].seq < live[j].seq
		}
		return live[i].at.Before(live[j].at)
	})
	if len(live) == 0 || live[0].at.After(end) {
		return nil
	}
	return live[0]
}

// AwaitTimer waits until a timer is armed to fire d from now, so a test can Advance past it
// knowing the actor that arms it has done so. It fails the test after Timeout.
func (c *Clock) AwaitTimer(t testing.TB, d time.Duration) {
	t.Helper()
	Eventually(t, fmt.Sprintf("a timer armed for %v", d), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, tm := range c.timers {
			if !tm.done && tm.at.Sub(c.now) == d {
				return true
			}
		}
		return false
	})
}
