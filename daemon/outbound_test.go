package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"holdfast/actors"
	"holdfast/control"
	"holdfast/upstream"
)

// Outbound delivery through the built binary: what an accepted message goes through on a
// clean stop, a crash and a half-open link (README: What delivered means).

// drainExit bounds a stop that drains the outbound queue first (half of shutdown_timeout).
const drainExit = 40 * time.Second

// ndjson is count messages {"type":"command","n":first+i}, one a line.
func ndjson(first, count int) string {
	var b strings.Builder
	for i := range count {
		fmt.Fprintf(&b, "{\"type\":\"command\",\"n\":%d}\n", first+i)
	}
	return b.String()
}

// post sends body as NDJSON to stream a and returns the status code and the decoded answer.
func (h *harness) post(body string) (int, control.SendResponse, string) {
	h.t.Helper()
	code, resp := h.call(http.MethodPost, "/v1/streams/a/messages", "", "application/x-ndjson", body)
	var sr control.SendResponse
	if code == http.StatusAccepted {
		if err := json.Unmarshal([]byte(resp), &sr); err != nil {
			h.t.Fatalf("decode %s: %v", resp, err)
		}
	}
	return code, sr, resp
}

// delivery checks the upstream's outbound messages against at-least-once in order: each n is
// at most one above every n before it (a resend repeats a run of earlier ones). It returns
// how many distinct messages arrived (0..next-1, all of them) and how many came again.
func delivery(t *testing.T, got []map[string]any) (next, dups int) {
	t.Helper()
	for i, m := range got {
		f, ok := m["n"].(float64)
		n := int(f)
		switch {
		case !ok || m["type"] != "command" || n < 0:
			t.Fatalf("outbound[%d] = %v: not a message the test sent", i, m)
		case n == next:
			next++
		case n < next:
			dups++
		default:
			t.Fatalf("outbound[%d] has n=%d before n=%d arrived: a message was lost or overtaken", i, n, next)
		}
	}
	return next, dups
}

// TestSIGTERMDeliversAcceptedOutbound is issue 17's scenario, repeated: an upstream feeding
// 1,000 events/s, a durable queue, 5,000 messages POSTed as one NDJSON batch and SIGTERM
// right after the 202, then a restart. Every trial the stop drains the queue and closes with
// the close handshake (the upstream sees close 1000, never a reset), and in the end every
// accepted message has reached the upstream in order.
func TestSIGTERMDeliversAcceptedOutbound(t *testing.T) {
	const trials, batch, rate = 10, 5000, 1000
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	fed := make(chan struct{})
	go func() { defer close(fed); up.Generate(ctx, rate, 0) }()
	t.Cleanup(func() { cancel(); <-fed }) // before the upstream closes
	h.write(h.header(30*time.Second, "") + h.fileSink("out", "100ms") + streamDef{name: "a", url: up.URL(), sink: "out",
		tables: "[stream.queue]\ndurable = true\nmax_messages = 50000"}.String())

	accepted := 0
	for trial := range trials {
		closes := len(up.ClientCloses())
		p := h.start()
		awaitUp(t, up, "a subscribed connection", func() bool { return up.Subscribed() == 1 })
		p.waitLog("holdfast started", 1) // the control API listens: streams may subscribe first
		code, sr, resp := h.post(ndjson(accepted, batch))
		if code != http.StatusAccepted || sr.Accepted != batch {
			t.Fatalf("trial %d: POST = %d %s, want 202 accepting %d", trial, code, resp, batch)
		}
		accepted += batch
		p.signal(syscall.SIGTERM)
		if st := p.wait(drainExit); st.ExitCode() != 0 {
			t.Fatalf("trial %d: exit %d after SIGTERM, want 0", trial, st.ExitCode())
		}
		awaitUp(t, up, "the connection's end", func() bool { return up.Subscribed() == 0 && len(up.ClientCloses()) > closes })
		for _, c := range up.ClientCloses()[closes:] {
			if c.Code != websocket.CloseNormalClosure {
				t.Errorf("trial %d: the upstream saw close %d (%s), want 1000 from a clean stop", trial, c.Code, c.Err)
			}
		}
		next, dups := delivery(t, up.Outbound())
		t.Logf("trial %d: %d of %d accepted messages delivered before the exit, %d sent twice so far", trial, next, accepted, dups)
		if next != accepted {
			t.Errorf("trial %d: the stop left %d accepted messages undelivered with the link up and a drain of 15s",
				trial, accepted-next)
		}
	}
	// Whatever a stop could not deliver comes after the next start.
	p := h.start()
	awaitUp(t, up, "every accepted message", func() bool { return up.OutboundLen() >= accepted })
	p.signal(syscall.SIGTERM)
	p.wait(drainExit)
	if next, dups := delivery(t, up.Outbound()); next != accepted || dups > 0 {
		t.Errorf("%d of %d accepted messages arrived, %d twice; want all, none twice (each stop drained)", next, accepted, dups)
	}
}

// TestKillMidDrainResendsAtMostAWindow (issue 11, point 7): a durable backlog drains with
// its depth falling and room freeing for new sends; a kill -9 in the middle of it sends again
// at most the in-flight window plus one batch of confirmed but not yet removed messages.
func TestKillMidDrainResendsAtMostAWindow(t *testing.T) {
	const n, chunk = 100000, 5000
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	up.RefuseUpgrades(http.StatusServiceUnavailable, "")
	h.write(h.header(10*time.Second, "") + h.fileSink("out", "100ms") + streamDef{name: "a", url: up.URL(), sink: "out",
		tables: fmt.Sprintf("[stream.queue]\ndurable = true\nmax_messages = %d", n)}.String())
	p := h.start()
	p.waitLog("holdfast started", 1)
	for first := 0; first < n; first += chunk {
		if code, _, resp := h.post(ndjson(first, chunk)); code != http.StatusAccepted {
			t.Fatalf("POST %d..%d = %d %s", first, first+chunk-1, code, resp)
		}
	}
	if code, _, resp := h.post(ndjson(n, 1)); code != http.StatusTooManyRequests {
		t.Fatalf("POST onto a full queue = %d %s, want 429", code, resp)
	}

	up.RefuseUpgrades(0, "")
	awaitUp(t, up, "the drain under way", func() bool { return up.OutboundLen() >= 2*chunk })
	// Room frees and the depth falls while the drain goes on.
	if code, sr, resp := h.post(ndjson(n, 1)); code != http.StatusAccepted || sr.Depth > n-chunk {
		t.Fatalf("POST during the drain = %d %s, want 202 and a depth below %d", code, resp, n-chunk)
	}
	p.signal(syscall.SIGKILL)
	p.wait(exitTimeout)
	awaitUp(t, up, "the connection gone", func() bool { return up.Conns() == 0 })
	before, _ := delivery(t, up.Outbound())
	if before >= n {
		t.Fatalf("the drain of %d messages ended before the kill; the test needs a larger backlog", n)
	}

	h.start()
	// A -race binary on a loaded machine may need far longer than startTimeout for 100,000.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := up.WaitFor(ctx, func() bool { return up.OutboundLen() > n }); err != nil {
		t.Fatalf("%d of %d messages arrived after the restart: %v", up.OutboundLen(), n+1, err)
	}
	var next, dups int
	awaitUp(t, up, "every accepted message", func() bool {
		next, dups = delivery(t, up.Outbound())
		return next == n+1
	})
	t.Logf("killed after %d of %d messages; %d sent again after the restart", before, n+1, dups)
	if limit := 2 * actors.SocketWindow; dups > limit {
		t.Errorf("%d messages sent again after a crash, want at most %d (window + one batch)", dups, limit)
	}
}

// TestBlackholedMessagesArriveAfterClose (issue 11, point 8): messages written into a link
// that went half-open stay queued, unconfirmed, and arrive in order over the next connection
// once the dead one closes. Also point 9: a line with invalid UTF-8 is refused with 400
// naming the line, and nothing of that request is sent.
func TestBlackholedMessagesArriveAfterClose(t *testing.T) {
	const n = 50
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
		streamDef{name: "a", url: up.URL(), sink: "out"}.String())
	p := h.start()
	awaitUp(t, up, "a subscribed connection", func() bool { return up.Subscribed() == 1 })
	p.waitLog("holdfast started", 1) // the control API listens: streams may subscribe first

	code, _, resp := h.post("{\"type\":\"command\",\"n\":-1}\n{\"type\":\"command\",\"s\":\"\xff\xfe\"}\n")
	if code != http.StatusBadRequest || !strings.Contains(resp, "line 2: invalid UTF-8") {
		t.Fatalf("POST with invalid UTF-8 on line 2 = %d %s, want 400 naming line 2", code, resp)
	}

	up.Freeze(true) // the blackhole: nothing read, nothing answered, nothing closed
	if code, _, resp := h.post(ndjson(0, n)); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", code, resp)
	}
	var row control.StreamStatus
	p.waitFor("every message written to the socket", func() bool {
		var ok bool
		row, ok = h.stream("a")
		return ok && int(row.Queue.Sent)+row.Queue.Unconfirmed >= n
	})
	if row.Queue.Depth != n || row.Queue.Sent != 0 {
		t.Errorf("with the link blackholed: depth %d, sent %d; want every message still queued, none confirmed",
			row.Queue.Depth, row.Queue.Sent)
	}
	up.DropConnections() // then the close
	awaitUp(t, up, "every accepted message", func() bool { return up.OutboundLen() >= n })
	p.waitFor("the queue empty", func() bool {
		row, ok := h.stream("a")
		return ok && row.Queue.Depth == 0 && row.Queue.Sent == n
	})
	if next, dups := delivery(t, up.Outbound()); next != n {
		t.Errorf("%d of %d messages arrived (%d twice)", next, n, dups)
	}
}

// TestStopReportsDiscardedMemoryQueue: a stop that cannot deliver a memory queue (no link)
// says how many messages it discards; a durable queue keeps them for the next start.
func TestStopReportsDiscardedMemoryQueue(t *testing.T) {
	const n = 3
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	up.RefuseUpgrades(http.StatusServiceUnavailable, "")
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
		streamDef{name: "a", url: up.URL(), sink: "out"}.String())
	p := h.start()
	p.waitLog("holdfast started", 1)
	if code, _, resp := h.post(ndjson(0, n)); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", code, resp)
	}
	p.signal(syscall.SIGTERM)
	p.wait(exitTimeout)
	var got []map[string]any
	for _, l := range p.logs() {
		if strings.Contains(fmt.Sprint(l["message"]), "memory queue discarded") {
			got = append(got, l)
		}
	}
	if len(got) != 1 || got[0]["discarded"] != float64(n) || got[0]["level"] != "warn" {
		t.Fatalf("discard log lines %v, want one warning with discarded=%d", got, n)
	}
}

// TestSIGTERMIntoBlackholeKeepsDurableQueue: a stop while the link is half-open cannot
// confirm what it writes. The drain gives up after half of shutdown_timeout, the close
// handshake after its grace, and every message stays in the durable queue: the next start
// sends them all.
func TestSIGTERMIntoBlackholeKeepsDurableQueue(t *testing.T) {
	const n = 200
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(4*time.Second, "") + h.fileSink("out", "100ms") + streamDef{name: "a", url: up.URL(), sink: "out",
		tables: "[stream.queue]\ndurable = true"}.String())
	p := h.start()
	awaitUp(t, up, "a subscribed connection", func() bool { return up.Subscribed() == 1 })
	p.waitLog("holdfast started", 1)
	up.Freeze(true)
	if code, _, resp := h.post(ndjson(0, n)); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", code, resp)
	}
	p.waitFor("every message written to the socket", func() bool {
		row, ok := h.stream("a")
		return ok && int(row.Queue.Sent)+row.Queue.Unconfirmed >= n
	})
	p.signal(syscall.SIGTERM)
	p.wait(drainExit)
	if p.logged("outbound queue not drained in time") != 1 {
		t.Errorf("the stop did not say the drain timed out")
	}
	up.DropConnections() // the half-open socket finally goes; what it held is lost

	h.start()
	awaitUp(t, up, "every accepted message", func() bool { return up.OutboundLen() >= n })
	if next, dups := delivery(t, up.Outbound()); next != n || dups > 0 {
		t.Errorf("%d of %d messages arrived, %d twice", next, n, dups)
	}
}
