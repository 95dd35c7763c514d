package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"holdfast/testsupport"
	"holdfast/upstream"
)

// Tests of the README's "Guarantees" section against the built binary.

// cursorStream is a stream with a numeric cursor on seq, events to the file sink "out".
func cursorStream(url, extra string) string {
	return streamDef{name: "a", url: url, sink: "out", tables: "[stream.cursor]\nfield = \"seq\"\n" + extra}.String()
}

// savedCursor reads state/a.cursor; 0 when there is none yet.
func (h *harness) savedCursor() uint64 {
	b, err := os.ReadFile(filepath.Join(h.dir, "state", "a.cursor"))
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// sinkSeqs parses every line of the file sink "out" as an envelope and returns the seq of
// each, in file order. A line that is not a whole envelope fails the test.
func (h *harness) sinkSeqs() []uint64 {
	h.t.Helper()
	f, err := os.Open(h.sinkPath("out"))
	if err != nil {
		h.t.Fatalf("open sink file: %v", err)
	}
	defer f.Close()
	var seqs []uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		var env struct {
			Message struct {
				Seq *uint64 `json:"seq"`
			} `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil || env.Message.Seq == nil {
			h.t.Fatalf("sink file line %d is not a whole event (%v): %.200s", n, err, sc.Text())
		}
		seqs = append(seqs, *env.Message.Seq)
	}
	if err := sc.Err(); err != nil {
		h.t.Fatalf("read sink file: %v", err)
	}
	return seqs
}

// fileSize is the size of path, 0 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// The checkpoint advances while events keep flowing, so SIGKILLs at random moments of a
// 1,000 ev/s feed lose nothing: every seq ends up in the file sink, and a seq appears twice
// only when it lies between the checkpoint and the last event written at a kill.
func TestSIGKILLUnderSteadyFeedLosesNoEvent(t *testing.T) {
	const (
		rate  = 1000 // events per second
		kills = 9
		// each kill comes 0.1-1.6 s (in published events) after the restarted daemon wrote
		minWait, maxWait = 100, 1600
	)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 11))
	t.Logf("seed %d", seed)

	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") + cursorStream(up.URL(), ""))
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	generated := make(chan int, 1)
	go func() { generated <- up.Generate(ctx, rate, 0) }()
	stopFeed := func() int {
		if cancel == nil {
			return 0
		}
		cancel()
		cancel = nil
		return <-generated
	}
	t.Cleanup(func() { stopFeed() })

	type window struct{ from, to uint64 } // seqs that may be written twice: (from, to]
	var windows []window
	// The first subscription asks only for live events, and a crash before the first
	// checkpoint has nothing to resume from: wait for one (the README states this limit).
	p.waitFor("a first checkpoint", func() bool { return h.savedCursor() > 0 })
	for k := range kills {
		size := fileSize(h.sinkPath("out"))
		p.waitFor(fmt.Sprintf("kill %d: the daemon writing", k+1), func() bool { return fileSize(h.sinkPath("out")) > size })
		target := up.LastSeq() + uint64(minWait+rng.IntN(maxWait-minWait))
		awaitUp(t, up, fmt.Sprintf("kill %d: seq %d published", k+1, target), func() bool { return up.LastSeq() >= target })
		p.signal(syscall.SIGKILL)
		p.wait(exitTimeout)
		cp := h.savedCursor()
		var last uint64
		for _, s := range h.sinkSeqs() {
			last = max(last, s)
		}
		windows = append(windows, window{cp, last})
		t.Logf("kill %d: checkpoint %d, last written %d", k+1, cp, last)
		p = h.start()
	}
	published := uint64(stopFeed())
	p.waitFor(fmt.Sprintf("checkpoint at the last seq %d", published), func() bool { return h.savedCursor() == published })
	p.signal(syscall.SIGTERM)
	if st := p.wait(exitTimeout); st.ExitCode() != exitOK {
		t.Fatalf("exit after SIGTERM = %v, want 0", st)
	}

	seen := make([]int, published+1)
	for _, s := range h.sinkSeqs() {
		if s == 0 || s > published {
			t.Fatalf("sink file holds seq %d; the upstream published 1..%d", s, published)
		}
		seen[s]++
	}
	missing, dups := 0, 0
	for s := uint64(1); s <= published; s++ {
		allowed := 1
		for _, w := range windows {
			if s > w.from && s <= w.to {
				allowed++
			}
		}
		switch {
		case seen[s] == 0:
			if missing++; missing <= 5 {
				t.Errorf("seq %d is missing from the sink file", s)
			}
		case seen[s] > allowed:
			t.Errorf("seq %d written %d times, outside every replay window %v", s, seen[s], windows)
		case seen[s] > 1:
			dups++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d events missing after %d SIGKILLs", missing, published, kills)
	}
	t.Logf("%d events, %d kills, %d replayed inside their windows", published, kills, dups)
}

// A sink file left with a partial last line (a crash or a full disk mid-write) is repaired
// when the daemon starts: the partial line is cut, and the next event starts a line of its own.
func TestFileSinkCutsPartialTailAtStart(t *testing.T) {
	const events = 5
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	whole := `{"stream":"a","type":"tick","via":"websocket","received_at":"2026-01-01T00:00:00Z","message":{"type":"tick","seq":1}}`
	partial := `{"stream":"a","type":"tick","via":"websocket","received_at":"2026-01-01T00:00:00Z","mess`
	if err := os.WriteFile(h.sinkPath("out"), []byte(whole+"\n"+partial), 0o600); err != nil {
		t.Fatal(err)
	}
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") + cursorStream(up.URL(), ""))
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	for i := range events {
		up.Publish("tick", map[string]any{"i": i})
	}
	p.waitFor(fmt.Sprintf("checkpoint at seq %d", events), func() bool { return h.savedCursor() == events })
	p.signal(syscall.SIGTERM)
	if st := p.wait(exitTimeout); st.ExitCode() != exitOK {
		t.Fatalf("exit after SIGTERM = %v, want 0", st)
	}
	want := []uint64{1, 1, 2, 3, 4, 5} // the line that was there, then the new events
	if got := h.sinkSeqs(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sink file seqs %v, want %v", got, want)
	}
	if n := p.logged("cut a partial last line"); n != 1 {
		t.Errorf("%d log lines about the partial line, want 1", n)
	}
}

// lineCount is the number of lines in the file sink "out".
func (h *harness) lineCount() int {
	b, _ := os.ReadFile(h.sinkPath("out"))
	return strings.Count(string(b), "\n")
}

// An upstream redeployed with fresh numbering starts again at seq 1 while holdfast's cursor
// is at 50. Under the default on_reset = "accept" holdfast warns, counts the reset, follows
// the new numbering and delivers every event; the checkpoint follows too.
func TestCursorResetByRedeployedUpstream(t *testing.T) {
	const before, after = 50, 20
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	addr := up.Addr()
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") + cursorStream(up.URL(), ""))
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	for i := range before {
		up.Publish("tick", map[string]any{"i": i})
	}
	p.waitFor(fmt.Sprintf("checkpoint at %d", before), func() bool { return h.savedCursor() == before })

	if err := up.Close(); err != nil { // the redeploy: same address, no history, seq from 1
		t.Fatal(err)
	}
	next := upstream.New(upstream.Options{})
	p.waitFor("the redeployed upstream listening on "+addr, func() bool { return next.Start(addr) == nil })
	t.Cleanup(func() { _ = next.Close() })
	awaitUp(t, next, "subscribed again", func() bool { return next.Subscribed() == 1 })
	if subs := next.Subscriptions(); len(subs) != 1 || subs[0]["since"] != float64(before) {
		t.Fatalf("subscriptions to the redeployed upstream: %v, want one with since %d", subs, before)
	}
	for i := range after {
		next.Publish("tick", map[string]any{"i": before + i})
	}
	p.waitFor(fmt.Sprintf("%d lines in the sink file", before+after), func() bool { return h.lineCount() == before+after })
	p.waitFor(fmt.Sprintf("checkpoint back at %d", after), func() bool { return h.savedCursor() == after })
	// The router reports its counts once a second, independently of the checkpoint.
	p.waitFor("status to count the reset", func() bool { row, _ := h.stream("a"); return row.CursorResets > 0 })
	row, _ := h.stream("a")
	if row.CursorResets != 1 || row.Duplicates != 0 {
		t.Errorf("status: cursor_resets %d, duplicates %d; want 1 and 0", row.CursorResets, row.Duplicates)
	}
	if n := p.logged("cursor reset"); n != 1 {
		t.Errorf("%d \"cursor reset\" log lines, want 1", n)
	}
	p.signal(syscall.SIGTERM)
	p.wait(exitTimeout)
	var want []uint64
	for i := range before {
		want = append(want, uint64(i+1))
	}
	for i := range after {
		want = append(want, uint64(i+1))
	}
	if got := h.sinkSeqs(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sink file seqs %v, want %v", got, want)
	}
}

// One bogus seq of 9223372036854775807 in the middle of a feed. Under on_reset = "accept"
// it is delivered, and the next event is seen as a reset, so delivery never stops; under
// "drop" the events below it are dropped, counted and logged. A replayed event (seq 5 again)
// is a duplicate either way, logged with its count.
func TestCursorOutlier(t *testing.T) {
	for _, tt := range []struct {
		onReset   string
		wantLines int
	}{
		{"accept", 10 + 1 + 10},
		{"drop", 10 + 1},
	} {
		t.Run(tt.onReset, func(t *testing.T) {
			h := newHarness(t, false)
			up := upstream.NewTest(t, upstream.Options{})
			h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
				cursorStream(up.URL(), fmt.Sprintf("on_reset = %q\n", tt.onReset)))
			p := h.start()
			awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
			for i := range 10 {
				up.Publish("tick", map[string]any{"i": i})
			}
			up.PublishRaw([]byte(`{"type":"tick","seq":5}`), false)
			up.PublishRaw([]byte(`{"type":"tick","seq":9223372036854775807}`), false)
			for i := range 10 {
				up.Publish("tick", map[string]any{"i": 10 + i}) // seq 11..20
			}
			p.waitFor("21 events routed or dropped", func() bool {
				row, ok := h.stream("a")
				return ok && row.EventsIn+row.Duplicates == 22
			})
			p.waitFor(fmt.Sprintf("%d lines in the sink file", tt.wantLines), func() bool { return h.lineCount() == tt.wantLines })
			row, _ := h.stream("a")
			if row.CursorResets != 1 {
				t.Errorf("status: cursor_resets %d, want 1", row.CursorResets)
			}
			p.signal(syscall.SIGTERM)
			p.wait(exitTimeout)
			if got := h.lineCount(); got != tt.wantLines {
				t.Errorf("%d lines in the sink file, want %d", got, tt.wantLines)
			}
			dup := false
			for _, l := range p.logs() {
				if l["message"] == "duplicates dropped" && l["duplicates"] == float64(1) {
					dup = true
				}
			}
			if !dup {
				t.Errorf("no \"duplicates dropped\" log line with duplicates 1")
			}
			if tt.onReset == "drop" && p.logged("on_reset = drop") == 0 {
				t.Errorf("no log line about the events dropped under on_reset = drop")
			}
		})
	}
}

// A webhook sink with batch_max above 1 posts a JSON array even when the feed is so quiet
// that every request carries a single event.
func TestWebhookBodyIsArrayAtLightTraffic(t *testing.T) {
	const events = 3
	var (
		mu     sync.Mutex
		bodies []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), bodies...)
	}
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(5*time.Second, "") + fmt.Sprintf(`
[[sink]]
name = "hook"
kind = "webhook"
url = %q
batch_max = 5
`, srv.URL) + streamDef{name: "a", url: up.URL(), sink: "hook"}.String())
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	for i := range events {
		up.Publish("tick", map[string]any{"i": i})
		p.waitFor(fmt.Sprintf("request %d", i+1), func() bool { return len(received()) == i+1 })
	}
	for i, b := range received() {
		var batch []json.RawMessage
		if err := json.Unmarshal([]byte(b), &batch); err != nil || len(batch) != 1 {
			t.Errorf("request %d body %.200s: want a JSON array of one event (%v)", i+1, b, err)
		}
	}
	p.signal(syscall.SIGTERM)
	p.wait(exitTimeout)
}

// plainBin is the daemon built without the race detector, whose shadow memory would swamp
// a measurement of the daemon's own; built once, next to holdfastBin.
var plainBin = sync.OnceValues(func() (string, error) {
	bin := holdfastBin + "-plain"
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// procStatusKB reads a "Name: N kB" line of /proc/pid/status.
func procStatusKB(t *testing.T, pid int, name string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/status: %v", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status %s: %q", pid, name, l)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, name)
	return 0
}

// 1 MiB frames into a sink that never answers: the stream holds at most max_inflight_bytes
// of them, then stops reading, so the daemon's peak RSS stays under that bound plus a fixed
// overhead (the Go runtime, one frame being read and routed, and GC headroom of one bound).
func TestInflightBytesBoundRSS(t *testing.T) {
	const (
		bound    = 16 << 20
		frame    = 1 << 20
		overhead = 64 << 20
	)
	bin, err := plainBin()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, false)
	h.bin = bin
	up := upstream.NewTest(t, upstream.Options{EventSize: frame})
	// A webhook that takes requests and never answers. httptest's Close waits for its
	// connections, so none is left behind for goleak.
	var hits atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	received := func() int { return int(hits.Load()) }
	hooks := fmt.Sprintf(`
[[sink]]
name = "hook0"
kind = "webhook"
url = %q
timeout = "60s"
max_retries = 0
`, srv.URL)
	h.write(strings.Replace(h.header(5*time.Second, "")+hooks+streamDef{name: "a", url: up.URL(), sink: "hook0"}.String(),
		`url = "`+up.URL()+`"`, fmt.Sprintf("url = %q\nread_limit = \"2MiB\"\nmax_inflight_bytes = \"%dMiB\"", up.URL(), bound>>20), 1))
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	pid := p.cmd.Process.Pid
	base := procStatusKB(t, pid, "VmRSS") << 10

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- up.Generate(ctx, 0, 0) }() // until the daemon stops reading
	t.Cleanup(func() { cancel(); <-done })
	p.waitFor("the webhook holding its first request", func() bool { return received() == 1 })
	// The reader stops once the bound is reached; the upstream's publisher then blocks.
	last, since := up.LastSeq(), time.Now()
	p.waitFor("the upstream to stop getting frames out", func() bool {
		if s := up.LastSeq(); s != last {
			last, since = s, time.Now()
		}
		return time.Since(since) > 2*time.Second
	})
	peak := procStatusKB(t, pid, "VmHWM") << 10
	t.Logf("published %d frames of %d bytes before the stall; RSS %d MiB at start, peak %d MiB (bound %d MiB)",
		last, frame, base>>20, peak>>20, bound>>20)
	if limit := int64(2*bound + overhead); peak > limit {
		t.Errorf("peak RSS %d MiB, want at most %d MiB (2 x max_inflight_bytes + %d MiB)", peak>>20, limit>>20, overhead>>20)
	}
	p.signal(syscall.SIGTERM) // the webhook's request is given up after the sink's stop grace
	p.wait(exitTimeout)
}

// A SIGTERM while an exec sink's child is stuck, with a shutdown_timeout shorter than the
// sink's stop grace: the daemon exits 3 within the timeout, logs what it abandoned per sink
// and per stream (the stuck event, a message queued while the link is down), and kills the
// child's process group instead of leaving it to PID 1.
func TestShutdownTimeoutKillsExecAndExits3(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	pidFile := filepath.Join(h.dir, "child.pid")
	h.write(h.header(time.Second, "") + fmt.Sprintf(`
[[sink]]
name = "stuck"
kind = "exec"
mode = "per_event"
timeout = "1h"
command = ["/bin/sh", "-c", "echo $$ > %s; exec sleep 300"]
`, pidFile) + streamDef{name: "a", url: up.URL(), sink: "stuck"}.String())
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	up.Publish("tick", nil)
	var child int
	p.waitFor("the exec child running", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && child > 0
	})
	up.RefuseUpgrades(http.StatusServiceUnavailable, "")
	up.DropConnections()
	h.waitState(p, "a", "backoff")
	if out, stderr, code := h.cli("", "send", "--config", h.cfg, "--stream", "a", `{"type":"command"}`); code != 0 {
		t.Fatalf("send: exit %d, %s %s", code, out, stderr)
	}

	p.signal(syscall.SIGTERM)
	st := p.wait(exitTimeout)
	if st.ExitCode() != exitAbandoned {
		t.Errorf("exit after a timed-out shutdown = %v, want %d", st, exitAbandoned)
	}
	var sinkLine, queueLine bool
	for _, l := range p.logs() {
		switch l["message"] {
		case "abandoned at shutdown: events not delivered":
			sinkLine = sinkLine || l["stream"] == "a" && l["sink"] == "stuck" && l["events"] == float64(1)
		case "abandoned at shutdown: outbound messages not sent":
			queueLine = queueLine || l["stream"] == "a" && l["messages"] == float64(1) && l["durable"] == false
		}
	}
	if !sinkLine || !queueLine {
		t.Errorf("abandoned logged for the sink: %v, for the queue: %v; want both", sinkLine, queueLine)
	}
	deadline := time.Now().Add(exitTimeout)
	for !testsupport.ProcessGone(child) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("the exec sink's child %d still runs %v after the daemon exited", child, exitTimeout)
		}
		time.Sleep(pollEvery) // polling for the process to be reaped, within a deadline
	}
}

// A link that goes half-open (the upstream stops reading and writing without closing) while
// it holds events for holdfast: the heartbeat finds it, the stream reconnects with its
// numeric cursor, and every event reaches the file sink exactly once.
func TestHalfOpenLinkLosesNoEvent(t *testing.T) {
	const before, during = 20, 30
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
		cursorStream(up.URL(), "\n[stream.heartbeat]\ninterval = \"300ms\"\ntimeout = \"500ms\"\n"))
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	for i := range before {
		up.Publish("tick", map[string]any{"i": i})
	}
	p.waitFor(fmt.Sprintf("%d lines in the sink file", before), func() bool { return h.lineCount() == before })
	up.Freeze(true) // half-open: what is published now is held back on the dead link
	for i := range during {
		up.Publish("tick", map[string]any{"i": before + i})
	}
	p.waitFor(fmt.Sprintf("%d lines after the reconnect", before+during), func() bool { return h.lineCount() == before+during })
	if up.Handshakes() < 2 {
		t.Errorf("%d handshakes: the half-open link was not replaced", up.Handshakes())
	}
	p.signal(syscall.SIGTERM)
	p.wait(exitTimeout)
	want := make([]uint64, before+during)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if got := h.sinkSeqs(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sink file seqs %v, want 1..%d once each", got, before+during)
	}
}

// TestSIGKILLBeforeFirstCheckpointLosesNothing: a daemon killed before any event was
// confirmed (its only sink is a webhook that never answers, so no regular checkpoint was
// ever written) has saved the first event's predecessor when it routed that event.
// Restarted with a working sink it resumes from there: every event published before,
// during and after the outage reaches the sink exactly once.
func TestSIGKILLBeforeFirstCheckpointLosesNothing(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	hooks, _, received := hangingHooks(t, 1)
	h.write(h.header(5*time.Second, "") + hooks +
		streamDef{name: "a", url: up.URL(), sink: "hook0", tables: "[stream.cursor]\nfield = \"seq\""}.String())
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	for range 20 {
		up.Publish("tick", nil)
	}
	p.waitFor("the webhook holding the first events", func() bool { return received() >= 1 })
	p.waitFor("the first event's predecessor saved", func() bool {
		b, err := os.ReadFile(filepath.Join(h.dir, "state", "a.cursor"))
		return err == nil && strings.TrimSpace(string(b)) == "0"
	})
	p.signal(syscall.SIGKILL)
	p.wait(exitTimeout)
	awaitUp(t, up, "the killed daemon's connection gone", func() bool { return up.Conns() == 0 })
	for range 10 { // while the daemon is down
		up.Publish("tick", nil)
	}
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") + cursorStream(up.URL(), ""))
	p = h.start()
	for range 10 {
		up.Publish("tick", nil)
	}
	const total = 40
	p.waitFor(fmt.Sprintf("%d events in the file", total), func() bool {
		return fileSize(h.sinkPath("out")) > 0 && len(h.sinkSeqs()) >= total
	})
	p.signal(syscall.SIGTERM)
	if st := p.wait(exitTimeout); st.ExitCode() != exitOK {
		t.Fatalf("exit after SIGTERM = %v, want 0", st)
	}
	seen := map[uint64]int{}
	for _, s := range h.sinkSeqs() {
		seen[s]++
	}
	for s := uint64(1); s <= total; s++ {
		if seen[s] != 1 {
			t.Errorf("seq %d written %d times, want once", s, seen[s])
		}
	}
	if len(seen) != total {
		t.Errorf("the file holds %d distinct seqs, want %d", len(seen), total)
	}
}
