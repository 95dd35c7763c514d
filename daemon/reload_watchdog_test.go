package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"holdfast/upstream"
)

// TestWatchdogPingsDuringSlowReload: a reload that restarts a stream whose webhook sinks
// are stalled takes seconds (each sink holds its event for its stop grace), and all that time
// the root keeps answering, so systemd's watchdog keeps getting WATCHDOG=1.
func TestWatchdogPingsDuringSlowReload(t *testing.T) {
	const hooks = 3 // about 2s of stop grace each
	h := newHarness(t, false)
	ns := listenNotify(t, h.dir)
	up := upstream.NewTest(t, upstream.Options{})
	sinks, route, received := hangingHooks(t, hooks)
	text := h.hookConfig(30*time.Second, up.URL(), sinks, route)
	h.write(text)
	p := h.start("NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=1000000")
	p.waitFor("READY=1", func() bool { return ns.index(0, "READY=1") >= 0 })
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	up.Publish("processing_progress", nil)
	p.waitFor("every webhook holding its request", func() bool { return received() == hooks })

	// A changed stream: the reload stops it (draining the stalled sinks) and starts it again.
	h.write(strings.Replace(text, "[[stream.subscribe]]", "read_limit = \"2MiB\"\n\n[[stream.subscribe]]", 1))
	mark := len(ns.all())
	start := time.Now()
	p.signal(syscall.SIGHUP)
	var reloading, ready int
	p.waitFor("RELOADING=1 then READY=1", func() bool {
		reloading = ns.index(mark, "RELOADING=1")
		if reloading < 0 {
			return false
		}
		ready = ns.index(reloading+1, "READY=1")
		return ready > reloading
	})
	took := time.Since(start)
	if p.logged("events left undelivered at stop") != hooks {
		t.Fatalf("the reload did not drain the stalled sinks (%d of %d logged): the test proves nothing",
			p.logged("events left undelivered at stop"), hooks)
	}
	pings := 0
	for _, d := range ns.all()[reloading+1 : ready] {
		if strings.HasPrefix(d, "WATCHDOG=1") {
			pings++
		}
	}
	// The watchdog probes every 500ms, each with 500ms to get an answer; a reload of about 6s
	// leaves room for a dozen. Ask for a few, so that a loaded machine that misses some probes
	// still passes, while a root that blocks in Receive for the whole reload (none) fails.
	if pings < 3 {
		t.Errorf("%d WATCHDOG=1 during a reload that took %v, want at least 3", pings, took)
	}
	t.Logf("reload took %v with %d watchdog pings", took, pings)
	awaitUp(t, up, "the restarted stream subscribed", func() bool { return up.Subscribed() == 1 })
}
