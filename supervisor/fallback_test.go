package supervisor_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"holdfast/actors"
	"holdfast/actors/actortest"
	"holdfast/messages"
	"holdfast/upstream"
)

// fallbackTOML is a stream that gives up the socket after two failed reconnects (1s, 2s) and
// polls every interval, probing the socket every retryEvery; promote_after is 10s. The cursor
// makes every seq countable exactly once, and the heartbeat is off so that only the timers
// under test are armed.
func fallbackTOML(up *upstream.Server, interval, retryEvery string) string {
	return fallbackNoCursorTOML(up, interval, retryEvery) + `
  [stream.cursor]
  field = "seq"
  subscribe_key = "since"`
}

// fallbackNoCursorTOML is fallbackTOML without the cursor: a connection is ready as soon as
// it has subscribed, without asking the cursor actor first.
func fallbackNoCursorTOML(up *upstream.Server, interval, retryEvery string) string {
	return fmt.Sprintf(`
  [stream.heartbeat]
  mode = "off"
  [stream.reconnect]
  initial_delay = "1s"
  max_delay = "4s"
  max_attempts = 2
  jitter = "none"
  [stream.fallback]
  poll_url = %q
  send_url = %q
  interval = %q
  max_interval = "40s"
  jitter = "none"
  retry_websocket_every = %q
  promote_after = "10s"`, up.PollURL(), up.SendURL(), interval, retryEvery)
}

// vias maps every seq in the events file to the transport that delivered it.
func vias(t *testing.T, path string) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	for _, l := range lines(t, path) {
		var msg struct{ Seq uint64 }
		var via string
		_ = json.Unmarshal(l["message"], &msg)
		_ = json.Unmarshal(l["via"], &via)
		out[msg.Seq] = via
	}
	return out
}

// checkVia fails unless seqs from..to were delivered by via.
func checkVia(t *testing.T, got map[uint64]string, from, to uint64, via string) {
	t.Helper()
	for s := from; s <= to; s++ {
		if got[s] != via {
			t.Errorf("seq %d arrived via %q, want %q", s, got[s], via)
			return
		}
	}
}

// pollerGone waits until the stream's poller has terminated.
func (h *harness) pollerGone(stream string) {
	h.t.Helper()
	actortest.Eventually(h.t, "the poller to stop", func() bool {
		_, alive := h.sys.ProcessRegistry.GetLocal(stream + "/" + actors.NamePoller)
		return !alive
	})
}

// TestFallbackPollsWithoutGap: when upgrades are refused past max_attempts the poller takes
// over from the cursor, so the events published before, during and after the switch each
// reach the file exactly once.
func TestFallbackPollsWithoutGap(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(fallbackTOML(h.up, "2s", "30s")), "s1")
	h.connected()
	publish(h.up, 50) // before: over the socket
	h.awaitMetric(50, "events_in_total", "stream", "s1")

	h.up.RefuseUpgrades(503, "")
	h.up.DropConnections()
	publish(h.up, 50) // during: nobody is listening
	st := h.untilPolling(clock)
	if st.Via != messages.ViaPoll || !strings.Contains(st.LastError, "503") {
		t.Errorf("polling state: via %q last error %q, want poll and the refusal", st.Via, st.LastError)
	}
	h.awaitMetric(100, "events_in_total", "stream", "s1") // the first poll catches up from the cursor

	publish(h.up, 50) // after: picked up by the next poll
	clock.AwaitTimer(t, 2*time.Second)
	clock.Advance(2 * time.Second)
	h.awaitMetric(150, "events_in_total", "stream", "s1")

	h.inFile(clock, 150)
	if p := actortest.ExactlyOnce(seqs(t, h.path("events.jsonl")), 150); p != "" {
		t.Fatalf("across the switch to polling: %s", p)
	}
	got := vias(t, h.path("events.jsonl"))
	checkVia(t, got, 1, 50, messages.ViaWebSocket)
	checkVia(t, got, 51, 150, messages.ViaPoll)
	if n := h.up.Handshakes(); n != 1 {
		t.Errorf("handshakes = %d, want 1: probed before retry_websocket_every", n)
	}
	if n := h.metric("mode_switches_total", "from", messages.ViaWebSocket, "to", messages.ViaPoll); n != 1 {
		t.Errorf("mode switches to poll = %v, want 1", n)
	}
}

// TestFallbackSendsThroughSendURL: while polling, queued messages (those held during the
// backoff and those enqueued later) are POSTed to send_url one at a time, in order.
func TestFallbackSendsThroughSendURL(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	pid := h.startStream(h.config(fallbackTOML(h.up, "2s", "30s")), "s1")
	h.connected()
	h.mustEnqueue(pid, 1, 2)
	h.awaitOutbound(1, 2)
	h.awaitMetric(2, "messages_out_total", "via", messages.ViaWebSocket)

	h.up.RefuseUpgrades(503, "")
	h.up.DropConnections()
	st := h.expectState(messages.StateBackoff)
	h.mustEnqueue(pid, 3, 4) // held: no transport
	clock.Advance(st.RetryIn)
	h.untilPolling(clock)
	h.awaitOutbound(1, 2, 3, 4)
	h.mustEnqueue(pid, 5, 8)
	h.awaitOutbound(1, 2, 3, 4, 5, 6, 7, 8)
	if n := h.up.Sends(); n != 6 {
		t.Errorf("send_url got %d POSTs, want 6", n)
	}
	h.awaitMetric(6, "messages_out_total", "via", messages.ViaPoll)
}

// TestFallbackOutboundSurvivesTrouble: a POST that send_url refuses, and a probe that dies
// right after its upgrade, do not stop outbound messages from flowing through send_url while
// the stream keeps polling.
func TestFallbackOutboundSurvivesTrouble(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.up.RefuseUpgrades(503, "")
	pid, logs := h.startStreamLogged(h.config(fallbackNoCursorTOML(h.up, "2s", "30s")), "s1")
	h.untilPolling(clock)
	h.mustEnqueue(pid, 1, 1)
	h.awaitOutbound(1)

	// send_url fails once: the message stays queued and goes out on a later attempt.
	h.up.SendStatus(503)
	h.mustEnqueue(pid, 2, 2)
	actortest.Eventually(t, "the queue to hear of the refused POST", func() bool {
		return strings.Contains(logs.String(), "send failed; message stays queued")
	})
	h.up.SendStatus(0)
	if !advanceUntil(clock, 500*time.Millisecond, clock.Now().Add(20*time.Second), func() bool { return len(h.up.Outbound()) >= 2 }) {
		t.Fatalf("a refused POST stopped outbound while polling: %d polls, %d POSTs, upstream has %v",
			h.up.Polls(), h.up.Sends(), outboundN(h.up))
	}
	h.awaitOutbound(1, 2)

	// A probe that is upgraded and dropped at once (it was ready, so the queue saw it come
	// and go): outbound goes on through send_url.
	h.up.RefuseUpgrades(0, "")
	h.up.AcceptThenDrop(true)
	next := clock.Now()
	for _, m := range h.probe.Messages() { // the probe is armed retry_websocket_every after giving up
		if st, ok := m.(*messages.StreamState); ok && st.State == messages.StatePolling {
			next = st.Since.Add(30 * time.Second)
			break
		}
	}
	clock.Advance(next.Sub(clock.Now()))
	h.up.Await(t, "the probe", func() bool { return h.up.Handshakes() == 1 })
	h.expectState(messages.StatePolling)
	h.mustEnqueue(pid, 3, 3)
	if !advanceUntil(clock, 500*time.Millisecond, clock.Now().Add(20*time.Second), func() bool { return len(h.up.Outbound()) >= 3 }) {
		t.Fatalf("after a probe that died outbound stalled while polling: upstream has %v", outboundN(h.up))
	}
	h.awaitOutbound(1, 2, 3)
}

// TestFallbackOutboundStaysOnProbeSocket: once a probe is ready the queue sends over it, and
// a poller that would take the queue back (after a refused POST) leaves it there, so that
// outbound goes on after the promotion has stopped the poller.
func TestFallbackOutboundStaysOnProbeSocket(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.up.RefuseUpgrades(503, "")
	cfg := h.config(fallbackNoCursorTOML(h.up, "2s", "30s"))
	cfg.Streams[0].Fallback.MaxInterval.Duration = 4 * time.Second // failed polls retry within 4s
	pid, logs := h.startStreamLogged(cfg, "s1")
	gaveUp := h.untilPolling(clock).Since // the first probe is due 30s later
	h.mustEnqueue(pid, 1, 1)
	h.awaitOutbound(1)

	h.up.SendStatus(503) // from now on only the socket can take a message
	h.mustEnqueue(pid, 2, 2)
	actortest.Eventually(t, "the queue to hear of the refused POST", func() bool {
		return strings.Contains(logs.String(), "send failed; message stays queued")
	})
	h.up.PollStatus(503) // no good poll, so no retry of the POST, until the probe is up
	h.up.RefuseUpgrades(0, "")
	clock.Advance(gaveUp.Add(30 * time.Second).Sub(clock.Now()))
	h.up.Await(t, "the probe subscribed", func() bool { return h.up.Subscribed() == 1 })
	h.awaitOutbound(1, 2) // over the probe's socket
	posts := h.up.Sends()

	good := func() float64 { // 200 or 304
		return h.metric("poll_requests_total", "result", "ok") + h.metric("poll_requests_total", "result", "not_modified")
	}
	before := good()
	h.up.PollStatus(0) // the next good poll would hand the queue back to the poller
	if !advanceUntil(clock, 500*time.Millisecond, gaveUp.Add(39*time.Second), func() bool { return good() > before }) {
		t.Fatal("no good poll within promote_after")
	}
	clock.Advance(gaveUp.Add(40 * time.Second).Sub(clock.Now())) // promote_after
	h.expectState(messages.StateConnected)
	h.pollerGone("s1")
	h.mustEnqueue(pid, 3, 3)
	h.awaitOutbound(1, 2, 3)
	h.awaitMetric(2, "messages_out_total", "stream", "s1", "via", messages.ViaWebSocket) // 2 and 3
	if n := h.up.Sends(); n != posts {
		t.Errorf("%d POSTs while the probe's socket was up", n-posts)
	}
}

// TestFallbackPromotesBackToWebSocket: once upgrades work again, the probe reconnects within
// retry_websocket_every; after promote_after the poller stops and events keep arriving over
// the socket, with no duplicate and no gap.
func TestFallbackPromotesBackToWebSocket(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(fallbackTOML(h.up, "2s", "30s")), "s1")
	h.connected()
	publish(h.up, 20)
	h.awaitMetric(20, "events_in_total", "stream", "s1")
	h.up.RefuseUpgrades(503, "")
	h.up.DropConnections()
	publish(h.up, 20)
	h.untilPolling(clock)
	h.awaitMetric(40, "events_in_total", "stream", "s1")

	h.up.RefuseUpgrades(0, "")
	publish(h.up, 20)               // by the next poll or the probe's replay, whichever comes first
	clock.Advance(30 * time.Second) // retry_websocket_every: the probe dials
	h.up.Await(t, "the probe subscribed", func() bool { return h.up.Subscribed() == 1 })
	h.awaitMetric(60, "events_in_total", "stream", "s1")
	publish(h.up, 20) // over the probe's socket; the poller is idle while the clock stands
	h.awaitMetric(80, "events_in_total", "stream", "s1")

	clock.AwaitTimer(t, 10*time.Second) // promote_after
	clock.Advance(9 * time.Second)
	if st := h.lastState(); st.State != messages.StatePolling {
		t.Fatalf("state %q before promote_after, want polling", st.State)
	}
	clock.Advance(time.Second)
	st := h.expectState(messages.StateConnected)
	if st.Via != messages.ViaWebSocket || st.Attempt != 0 {
		t.Errorf("after promotion: via %q attempt %d, want websocket and 0", st.Via, st.Attempt)
	}
	h.pollerGone("s1")
	polls := h.up.Polls()
	for i := 0; i < 5; i++ {
		clock.Advance(2 * time.Second)
	}
	if n := h.up.Polls(); n != polls {
		t.Errorf("%d polls after promotion", n-polls)
	}

	publish(h.up, 20)
	h.awaitMetric(100, "events_in_total", "stream", "s1")
	h.inFile(clock, 100)
	if p := actortest.ExactlyOnce(seqs(t, h.path("events.jsonl")), 100); p != "" {
		t.Fatalf("across poll and back: %s", p)
	}
	checkVia(t, vias(t, h.path("events.jsonl")), 61, 100, messages.ViaWebSocket)
	if n := h.metric("mode_switches_total", "from", messages.ViaPoll, "to", messages.ViaWebSocket); n != 1 {
		t.Errorf("mode switches back to websocket = %v, want 1", n)
	}
	if h.up.Handshakes() != 2 {
		t.Errorf("handshakes = %d, want 2 (start and one probe)", h.up.Handshakes())
	}
}

// TestFallbackProbeMustStayHealthy: a probe whose socket dies right after the upgrade counts
// as failed and the poller keeps going; a probe that dies before promote_after is not
// promoted either; only one that stays up promote_after is.
func TestFallbackProbeMustStayHealthy(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.up.RefuseUpgrades(503, "")
	h.startStream(h.config(fallbackTOML(h.up, "2s", "30s")), "s1")
	h.untilPolling(clock)
	h.up.Await(t, "the first poll", func() bool { return h.up.Polls() >= 1 })

	h.up.RefuseUpgrades(0, "")
	h.up.AcceptThenDrop(true)
	next := clock.Now().Add(30 * time.Second) // the first probe
	for probe := 1; probe <= 3; probe++ {
		clock.Advance(next.Sub(clock.Now()))
		h.up.Await(t, fmt.Sprintf("probe %d", probe), func() bool { return h.up.Handshakes() == probe })
		if st := h.expectState(messages.StatePolling); st.LastError == "" {
			t.Errorf("failed probe %d: no last error", probe)
		}
		next = clock.Now().Add(30 * time.Second) // the failure armed the next probe
		clock.Advance(10 * time.Second)          // promote_after: a dead probe must not be promoted
		polls := h.up.Polls()
		goesOn := advanceUntil(clock, 500*time.Millisecond, next.Add(-time.Second), func() bool { return h.up.Polls() > polls })
		if h.promoted() {
			t.Fatalf("probe %d died right after its upgrade, yet promote_after later the stream went back to "+
				"websocket and stopped the poller: its Connected was handled after its failure", probe)
		}
		if !goesOn {
			t.Fatalf("no poll after failed probe %d", probe)
		}
	}

	// Probe 4 connects for real but the link dies 9s into the dwell: still polling.
	h.up.AcceptThenDrop(false)
	clock.Advance(next.Sub(clock.Now()))
	h.up.Await(t, "probe 4 subscribed", func() bool { return h.up.Subscribed() == 1 })
	clock.AwaitTimer(t, 10*time.Second)
	clock.Advance(9 * time.Second)
	h.up.DropConnections()
	h.expectState(messages.StatePolling)
	next = clock.Now().Add(30 * time.Second)
	clock.Advance(time.Second) // when probe 4 would have been promoted
	clock.Advance(next.Sub(clock.Now()))
	h.up.Await(t, "probe 5 subscribed", func() bool { return h.up.Subscribed() == 1 })
	clock.AwaitTimer(t, 10*time.Second)
	if st := h.lastState(); st.State != messages.StatePolling {
		t.Fatalf("state %q with a probe that died in its dwell, want polling", st.State)
	}
	clock.Advance(10 * time.Second) // probe 5 stayed up promote_after
	h.expectState(messages.StateConnected)
	h.pollerGone("s1")
}

// advanceUntil moves clock forward by step, giving what each step sets off a moment to
// happen, until cond holds; it never moves clock past limit. It reports false if cond still
// fails after actortest.Timeout.
func advanceUntil(clock *actortest.Clock, step time.Duration, limit time.Time, cond func() bool) bool {
	deadline := time.Now().Add(actortest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		if !clock.Now().Add(step).After(limit) {
			clock.Advance(step)
		}
		// A poll interval inside a deadline (as in actortest.Eventually), not a wait for an event.
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// promoted reports whether the stream has reported connected since it started polling.
func (h *harness) promoted() bool {
	polling := false
	for _, m := range h.probe.Messages() {
		if st, ok := m.(*messages.StreamState); ok {
			polling = polling || st.State == messages.StatePolling
			if polling && st.State == messages.StateConnected {
				return true
			}
		}
	}
	return false
}

// TestPollerHandlesServerTrouble walks one poller through what a poll endpoint can answer:
// 304 for an unchanged ETag, 5xx (the interval doubles), 401 (max_interval, logged), a body
// that is not JSON (counted), and recovery. The stream stays polling and every event is
// delivered once.
func TestPollerHandlesServerTrouble(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.up.RefuseUpgrades(503, "")
	_, logs := h.startStreamLogged(h.config(fallbackTOML(h.up, "3s", "1h")), "s1")
	h.untilPolling(clock)
	poll := func(result string) float64 { return h.metric("poll_requests_total", "stream", "s1", "result", result) }
	h.awaitMetric(1, "poll_requests_total", "result", "ok") // nothing yet: an empty list and its ETag

	// Unchanged: the ETag comes back as If-None-Match and the upstream answers 304.
	clock.AwaitTimer(t, 3*time.Second)
	clock.Advance(3 * time.Second)
	h.awaitMetric(1, "poll_requests_total", "result", "not_modified")
	publish(h.up, 3)
	clock.AwaitTimer(t, 3*time.Second)
	clock.Advance(3 * time.Second)
	h.awaitMetric(3, "events_in_total", "stream", "s1")

	// 5xx: the interval doubles per failure.
	h.up.PollStatus(503)
	clock.AwaitTimer(t, 3*time.Second)
	clock.Advance(3 * time.Second)
	h.awaitMetric(1, "poll_requests_total", "result", "error")
	clock.AwaitTimer(t, 6*time.Second)
	clock.Advance(6 * time.Second)
	h.awaitMetric(2, "poll_requests_total", "result", "error")
	clock.AwaitTimer(t, 12*time.Second)

	// 401: no tight loop; the operator is told.
	h.up.PollStatus(401)
	clock.Advance(12 * time.Second)
	h.awaitMetric(1, "poll_requests_total", "result", "auth_failed")
	clock.AwaitTimer(t, 40*time.Second) // max_interval
	if !strings.Contains(logs.String(), "poll rejected the credentials") {
		t.Errorf("a 401 on poll was not logged")
	}

	// A body that is not JSON is counted, and nothing restarts.
	h.up.PollStatus(0)
	h.up.PollBody([]byte("<html>maintenance</html>"))
	clock.Advance(40 * time.Second)
	h.awaitMetric(1, "poll_requests_total", "result", "bad_body")
	if n := h.metric("parse_errors_total", "stream", "s1", "reason", "poll_body"); n != 1 {
		t.Errorf("parse errors for the poll body = %v, want 1", n)
	}
	clock.AwaitTimer(t, 40*time.Second) // still backing off, capped

	// Recovery: the events published meanwhile arrive and the interval is back to normal.
	h.up.PollBody(nil)
	publish(h.up, 2)
	clock.Advance(40 * time.Second)
	h.awaitMetric(5, "events_in_total", "stream", "s1")
	clock.AwaitTimer(t, 3*time.Second)
	if ok := poll("ok"); ok < 3 {
		t.Errorf("ok polls = %v, want at least 3", ok)
	}
	if st := h.lastState(); st.State != messages.StatePolling {
		t.Errorf("state %q after poll trouble, want polling", st.State)
	}
	if strings.Contains(logs.String(), "crashed") {
		t.Errorf("an actor crashed on poll trouble")
	}
	h.inFile(clock, 5)
	if p := actortest.ExactlyOnce(seqs(t, h.path("events.jsonl")), 5); p != "" {
		t.Fatalf("after poll trouble: %s", p)
	}
}
