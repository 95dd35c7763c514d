package supervisor_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"holdfast/messages"
	"holdfast/queue"
	"holdfast/upstream"
)

// queueTOML is a stream whose first reconnect waits initialDelay, with the heartbeat off and
// the [stream.queue] table given by queue (key = value lines).
func queueTOML(initialDelay, queue string) string {
	return fmt.Sprintf(`
  [stream.heartbeat]
  mode = "off"
  [stream.reconnect]
  initial_delay = %q
  max_delay = "30s"
  jitter = "none"
  [stream.queue]
%s`, initialDelay, queue)
}

// TestQueueKeepsOrderAcrossOutage: messages enqueued while connected, then while the link
// is down and upgrades are refused, reach the upstream exactly once and in order.
func TestQueueKeepsOrderAcrossOutage(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	pid := h.startStream(h.config(queueTOML("1s", "")), "s1")
	h.connected()
	h.mustEnqueue(pid, 1, 5)
	h.awaitOutbound(1, 2, 3, 4, 5)
	h.awaitMetric(5, "messages_out_total", "stream", "s1", "via", messages.ViaWebSocket) // confirmed, so not resent

	h.up.RefuseUpgrades(503, "")
	h.up.DropConnections()
	st := h.expectState(messages.StateBackoff)
	h.mustEnqueue(pid, 6, 8)
	if e := h.enqueue(pid, cmd(9), cmd(10)); e.Err != nil || e.Depth != 5 {
		t.Fatalf("enqueue while down: depth %d err %v, want 5 and nil", e.Depth, e.Err)
	}
	clock.Advance(st.RetryIn) // refused again
	st = h.expectState(messages.StateBackoff)
	h.up.RefuseUpgrades(0, "")
	clock.Advance(st.RetryIn)
	h.connected()
	h.awaitOutbound(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	h.mustEnqueue(pid, 11, 11) // anything resent would come before this one
	h.awaitOutbound(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
}

// TestOutboundConfirmedByLaterFrames: with an upstream that answers no pings, messages it
// received stay unconfirmed (queued) until a frame is read after their write; then they
// leave the queue. Without that frame a reconnect would send them again.
func TestOutboundConfirmedByLaterFrames(t *testing.T) {
	h, _ := newClockedHarness(t, upstream.Options{})
	h.up.AnswerPings(false) // neither control pings (the writer's probes) nor message pings
	pid := h.startStream(h.config(queueTOML("1s", "")), "s1")
	h.connected()
	h.mustEnqueue(pid, 1, 5)
	h.awaitOutbound(1, 2, 3, 4, 5)
	if e := h.enqueue(pid, cmd(6)); e.Err != nil || e.Depth != 6 {
		t.Fatalf("enqueue after five were written: depth %d err %v, want 6 (nothing confirmed yet)", e.Depth, e.Err)
	}
	h.awaitOutbound(1, 2, 3, 4, 5, 6)
	if got := h.metric("messages_out_total", "stream", "s1"); got != 0 {
		t.Fatalf("%v messages confirmed before the link showed any life after the writes", got)
	}
	publish(h.up, 1) // an event, read after the writes
	h.awaitMetric(6, "messages_out_total", "stream", "s1", "via", messages.ViaWebSocket)
	if e := h.enqueue(pid, cmd(7)); e.Err != nil || e.Depth != 1 {
		t.Fatalf("enqueue after the confirmation: depth %d err %v, want 1 (the six left the queue)", e.Depth, e.Err)
	}
}

// TestQueueOverflowPolicies: a queue of 3 filled with 5 messages while the link is down.
func TestQueueOverflowPolicies(t *testing.T) {
	for _, tt := range []struct {
		overflow string
		want     []int // what the upstream gets after the reconnect, then message 6
	}{
		{"reject", []int{1, 2, 3, 6}},
		{"drop_oldest", []int{3, 4, 5, 6}},
		{"drop_newest", []int{1, 2, 3, 6}},
	} {
		t.Run(tt.overflow, func(t *testing.T) {
			h, clock := newClockedHarness(t, upstream.Options{})
			h.up.RefuseUpgrades(503, "")
			pid := h.startStream(h.config(queueTOML("1s", fmt.Sprintf("  max_messages = 3\n  overflow = %q", tt.overflow))), "s1")
			st := h.expectState(messages.StateBackoff)
			h.mustEnqueue(pid, 1, 3)
			for n := 4; n <= 5; n++ {
				e := h.enqueue(pid, cmd(n))
				switch {
				case tt.overflow == "reject" && !errors.Is(e.Err, queue.ErrFull):
					t.Fatalf("message %d into a full queue: err %v, want queue.ErrFull", n, e.Err)
				case tt.overflow != "reject" && e.Err != nil:
					t.Fatalf("message %d with overflow %s: %v", n, tt.overflow, e.Err)
				case e.Depth != 3:
					t.Fatalf("depth %d after message %d, want 3", e.Depth, n)
				}
			}
			if tt.overflow == "reject" { // all or nothing: a request that does not fit leaves no trace
				if e := h.enqueue(pid, cmd(4), cmd(5)); !errors.Is(e.Err, queue.ErrFull) || e.Depth != 3 {
					t.Fatalf("two messages into a full queue: depth %d err %v, want 3 and queue.ErrFull", e.Depth, e.Err)
				}
			} else {
				h.awaitMetric(2, "queue_dropped_total", "stream", "s1", "reason", "overflow")
			}
			h.up.RefuseUpgrades(0, "")
			clock.Advance(st.RetryIn)
			h.connected()
			h.awaitOutbound(tt.want[:3]...)
			h.awaitMetric(3, "messages_out_total", "stream", "s1") // confirmed and so out of the queue
			h.mustEnqueue(pid, 6, 6)                               // a dropped message sent late would come before this one
			h.awaitOutbound(tt.want...)
		})
	}
}

// TestQueueTTLExpires: a message older than ttl when the link comes back is not sent; a
// younger one is.
func TestQueueTTLExpires(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.up.RefuseUpgrades(503, "")
	pid := h.startStream(h.config(queueTOML("20s", `  ttl = "10s"`)), "s1")
	st := h.expectState(messages.StateBackoff)
	h.mustEnqueue(pid, 1, 1)
	clock.Advance(11 * time.Second) // message 1 is past its ttl
	h.mustEnqueue(pid, 2, 2)
	h.up.RefuseUpgrades(0, "")
	clock.Advance(st.RetryIn - 11*time.Second)
	h.connected()
	h.awaitOutbound(2) // 1 would have come first
	h.awaitMetric(1, "queue_dropped_total", "stream", "s1", "reason", "ttl")
}

// TestDurableQueueSurvivesRestart: messages enqueued while down survive stopping the stream
// and are delivered in order by a new stream on the same state dir.
func TestDurableQueueSurvivesRestart(t *testing.T) {
	h, _ := newClockedHarness(t, upstream.Options{})
	h.up.RefuseUpgrades(503, "")
	cfg := h.config(queueTOML("1s", "  durable = true"))
	pid := h.startStream(cfg, "s1")
	h.expectState(messages.StateBackoff)
	h.mustEnqueue(pid, 1, 3)
	if e := h.enqueue(pid, cmd(4), cmd(5)); e.Err != nil || e.Depth != 5 {
		t.Fatalf("enqueue: depth %d err %v, want 5 and nil", e.Depth, e.Err)
	}
	if err := h.sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatalf("stop stream: %v", err)
	}
	h.expectState(messages.StateStopped)

	h.up.RefuseUpgrades(0, "")
	pid = h.startStream(cfg, "s1")
	h.connected()
	h.awaitOutbound(1, 2, 3, 4, 5)
	h.mustEnqueue(pid, 6, 6)
	h.awaitOutbound(1, 2, 3, 4, 5, 6)
}
