package actors

import (
	"testing"
	"time"

	"holdfast/testsupport"
)

func TestDispatcherReusesFinishedGoroutines(t *testing.T) {
	d := newReusingDispatcher(actorThroughput, 200*time.Millisecond)
	done := make(chan struct{})
	const runs = 100
	for range runs {
		d.Schedule(func() { done <- struct{}{} })
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a scheduled run did not run")
		}
	}
	// A run scheduled in the instant between another's end and its goroutine's wait starts
	// a goroutine of its own, so a few are allowed; one per run is what go fn() does.
	if n := d.started.Load(); n > runs/10 {
		t.Fatalf("%d goroutines started for %d runs one after another", n, runs)
	}
	testsupport.Eventually(t, "idle goroutines exit", 5*time.Second, func() bool { return d.live.Load() == 0 })
}

func TestDispatcherNeverWaitsOnABlockedRun(t *testing.T) {
	d := newReusingDispatcher(actorThroughput, 200*time.Millisecond)
	release, ran := make(chan struct{}), make(chan struct{})
	d.Schedule(func() { <-release }) // a mailbox blocked on backpressure
	d.Schedule(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a run waited for a blocked one")
	}
	close(release)
	testsupport.Eventually(t, "idle goroutines exit", 5*time.Second, func() bool { return d.live.Load() == 0 })
}
