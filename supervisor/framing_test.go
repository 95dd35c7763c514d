package supervisor_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"holdfast/actors/actortest"
	"holdfast/messages"
)

// tape is a feed's event log: scripts send from it, tests append to it.
type tape struct {
	mu      sync.Mutex
	events  []string
	changed chan struct{}
}

func newTape() *tape { return &tape{changed: make(chan struct{})} }

func (tp *tape) add(events ...string) {
	tp.mu.Lock()
	tp.events = append(tp.events, events...)
	close(tp.changed)
	tp.changed = make(chan struct{})
	tp.mu.Unlock()
}

// from returns the events after index i and a channel closed when more are added.
func (tp *tape) from(i int) ([]string, <-chan struct{}) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.events[min(i, len(tp.events)):], tp.changed
}

// stream sends the tape from index next on c until the connection ends; every frame the
// client sends meanwhile goes to onFrame.
func (tp *tape) stream(c *feedConn, next int, onFrame func(string)) {
	for {
		evs, more := tp.from(next)
		for _, e := range evs {
			if !c.Send(e) {
				return
			}
			next++
		}
		select {
		case <-more:
		case s, ok := <-c.in:
			if !ok {
				return
			}
			if onFrame != nil {
				onFrame(s)
			}
		}
	}
}

// messageField reads one field of every event line's message.
func messageField[T any](t *testing.T, path, field string) []T {
	t.Helper()
	var out []T
	for _, l := range lines(t, path) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(l["message"], &m); err != nil {
			t.Fatalf("message %s: %v", l["message"], err)
		}
		var v T
		if err := json.Unmarshal(m[field], &v); err != nil {
			t.Fatalf("message %s field %s: %v", l["message"], field, err)
		}
		out = append(out, v)
	}
	return out
}

// TestMarketFeedTypeInE: a feed that names its events in "e", numbers them in "u", wants the
// resume point inside its subscribe message and pings with ids of its own. Dropped three times
// mid-stream, every event arrives once, in order, each re-subscribe resumes from the cursor,
// and every application ping is answered with its id.
func TestMarketFeedTypeInE(t *testing.T) {
	h := newFeedHarness(t)
	tp := newTape()
	var subs []map[string]any
	var mu sync.Mutex
	f := newFeed(t, func(c *feedConn) {
		first, ok := c.Recv(actortest.Timeout)
		if !ok {
			return
		}
		var sub struct {
			Method string
			Params struct{ From *int }
		}
		var raw map[string]any
		_ = json.Unmarshal([]byte(first), &sub)
		_ = json.Unmarshal([]byte(first), &raw)
		mu.Lock()
		subs = append(subs, raw)
		id := len(subs)
		mu.Unlock()
		if sub.Method != "SUBSCRIBE" {
			return
		}
		next := 0
		if sub.Params.From != nil {
			next = *sub.Params.From // u starts at 1, so event u=k is at index k-1
		}
		c.Send(fmt.Sprintf(`{"e":"ping","id":%d}`, 1000+id))
		tp.stream(c, next, nil)
	})
	h.startStream(h.feedConfig(f.URL(), `
  [stream.framing]
  type_path = "/e"
  cursor_path = "/u"
  [stream.heartbeat]
  mode = "control"
  [stream.reconnect]
  initial_delay = "50ms"
  max_delay = "200ms"
  [[stream.subscribe]]
  message = { method = "SUBSCRIBE", params = { streams = ["btcusdt@trade"], from = "${cursor}" } }
  [[stream.answer]]
  type = "ping"
  reply = '{"e":"pong","id":${/id}}'`), "s1")
	h.expectState(messages.StateConnected)

	events := filepath.Join(h.dir, "events.jsonl")
	total := 0
	publish := func(n int) {
		batch := make([]string, n)
		for i := range batch {
			total++
			batch[i] = fmt.Sprintf(`{"e":"trade","E":1700000000000,"s":"BTCUSDT","u":%d,"p":"42000.%02d","q":"0.01"}`, total, total%100)
		}
		tp.add(batch...)
	}
	for drop := 1; drop <= 3; drop++ {
		publish(200)
		want := total - 150
		await(t, fmt.Sprintf("%d events before drop %d", want, drop), 30*time.Second, func() bool { return len(lines(t, events)) >= want })
		f.Drop()
		await(t, fmt.Sprintf("reconnect %d", drop), 30*time.Second, func() bool { return f.Handshakes() > drop })
	}
	publish(100)
	await(t, "every event", 30*time.Second, func() bool { return len(lines(t, events)) >= total })

	us := messageField[int](t, events, "u")
	if p := actortest.ExactlyOnce(toUint64(us), uint64(total)); p != "" {
		t.Fatalf("events: %s", p)
	}
	if !slices.IsSorted(us) {
		t.Errorf("events out of order")
	}
	for _, l := range lines(t, events) {
		if string(l["type"]) != `"trade"` {
			t.Fatalf("routed as %s, want trade", l["type"])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, s := range subs[1:] {
		params, _ := s["params"].(map[string]any)
		if from, ok := params["from"].(float64); !ok || from < 1 {
			t.Errorf("re-subscribe %d carries no cursor in params.from: %v", i+1, s)
		}
	}
	await(t, "an answer to every ping", actortest.Timeout, func() bool {
		got := f.Got()
		for id := 1001; id <= 1000+len(subs); id++ {
			if !slices.Contains(got, fmt.Sprintf(`{"e":"pong","id":%d}`, id)) {
				return false
			}
		}
		return true
	})
}

func toUint64(in []int) []uint64 {
	out := make([]uint64, len(in))
	for i, v := range in {
		out[i] = uint64(v)
	}
	return out
}

// TestPlainTextFeed: a feed of plain-text frames with plain-text heartbeats. Text frames are
// routed (as JSON strings) instead of rejected, the server's "PING" is answered "PONG", our
// "ping" is answered "pong" and keeps the link, and a server that stops answering is found
// by the heartbeat and redialled.
func TestPlainTextFeed(t *testing.T) {
	h := newFeedHarness(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	h.clock = clock
	var answering sync.Mutex
	answer := true
	f := newFeed(t, func(c *feedConn) {
		c.Send("PING")
		c.Send("hello 1")
		c.Send("hello 2")
		for {
			s, ok := <-c.in
			if !ok {
				return
			}
			answering.Lock()
			on := answer
			answering.Unlock()
			if s == "ping" && on {
				c.Send("pong")
			}
		}
	})
	h.startStream(h.feedConfig(f.URL(), `
  [stream.framing]
  text_type = "quote"
  [stream.heartbeat]
  mode = "message"
  interval = "5s"
  timeout = "3s"
  any_frame_alive = false
  ping_message = "ping"
  pong_message = "pong"
  [stream.reconnect]
  initial_delay = "1s"
  jitter = "none"
  [[stream.answer]]
  text = "PING"
  reply = "PONG"`), "s1")
	h.expectState(messages.StateConnected)
	events := filepath.Join(h.dir, "events.jsonl")
	await(t, "two text events", actortest.Timeout, func() bool { return len(lines(t, events)) >= 2 })
	for i, l := range lines(t, events)[:2] {
		if want := fmt.Sprintf(`"hello %d"`, i+1); string(l["message"]) != want || string(l["type"]) != `"quote"` {
			t.Errorf("event %d: type %s message %s, want quote %s", i, l["type"], l["message"], want)
		}
	}
	await(t, "PONG for the server's PING", actortest.Timeout, func() bool { return slices.Contains(f.Got(), "PONG") })

	clock.AwaitTimer(t, 5*time.Second)
	// Every Advance that reaches a ping ends exactly when it is due, so the heartbeat reads the
	// same time whether it handles the tick during the Advance or after it.
	step := 5 * time.Second
	for i := 0; i < 3; i++ {
		before := testutilCount(h)
		clock.Advance(step) // our ping
		await(t, "pong observed", actortest.Timeout, func() bool { return testutilCount(h) > before })
		clock.Advance(4 * time.Second) // past the timeout: a missed pong would fail the link now
		step = time.Second             // the next ping is due 5s after this one
	}
	if n := f.Handshakes(); n != 1 {
		t.Fatalf("answered pings still redialled: %d handshakes", n)
	}
	answering.Lock()
	answer = false
	answering.Unlock()
	clock.Advance(step) // a ping that gets no answer
	clock.AwaitTimer(t, 3*time.Second)
	clock.Advance(3 * time.Second)
	st := h.expectState(messages.StateBackoff)
	if !strings.Contains(st.LastError, "heartbeat timeout") {
		t.Errorf("last error %q, want heartbeat timeout", st.LastError)
	}
	clock.Advance(time.Second)
	h.expectState(messages.StateConnected)
}

// TestAcksFollowTheSinks: a Slack-Socket-Mode-style feed redelivers every envelope until it is
// acknowledged. Acks go out only once every sink the envelope was routed to has taken it: while
// the webhook stalls there are none, a drop then brings the envelopes again, and once the
// webhook answers each one is acknowledged.
func TestAcksFollowTheSinks(t *testing.T) {
	t.Run("redelivered envelopes routed again", func(t *testing.T) { acksFollowTheSinks(t, "") })
	// With a cursor the redelivered envelopes are duplicates the router drops; they are
	// acknowledged all the same once the originals are done.
	t.Run("redelivered envelopes dropped as duplicates", func(t *testing.T) {
		acksFollowTheSinks(t, "  [stream.framing]\n  cursor_path = \"/payload/seq\"\n")
	})
}

func acksFollowTheSinks(t *testing.T, framing string) {
	h := newFeedHarness(t)
	release := make(chan struct{})
	hook := newStallingWebhook(t, release)
	var mu sync.Mutex
	acked := map[string]bool{}
	sent := 0
	const n = 5
	envelope := func(k int) string {
		return fmt.Sprintf(`{"envelope_id":"e-%d","type":"events_api","accepts_response_payload":false,"payload":{"seq":%d}}`, k, k)
	}
	f := newFeed(t, func(c *feedConn) {
		mu.Lock()
		var unacked []string
		for k := 1; k <= n; k++ {
			if !acked[fmt.Sprintf("e-%d", k)] {
				unacked = append(unacked, envelope(k))
			}
		}
		mu.Unlock()
		for _, e := range unacked {
			if c.Send(e) {
				mu.Lock()
				sent++
				mu.Unlock()
			}
		}
		for s := range c.in {
			var ack struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal([]byte(s), &ack) == nil && ack.EnvelopeID != "" {
				mu.Lock()
				acked[ack.EnvelopeID] = true
				mu.Unlock()
			}
		}
	})
	ackCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	h.startStream(h.feedConfig(f.URL(), framing+fmt.Sprintf(`
  [stream.ack]
  message = '{"envelope_id":${/envelope_id}}'
  [stream.heartbeat]
  mode = "control"
  [stream.reconnect]
  initial_delay = "50ms"
  max_delay = "200ms"
  [[stream.route]]
  type = "events_api"
  sinks = ["hook", "events"]

[[sink]]
name = "hook"
kind = "webhook"
url = %q
timeout = "60s"
max_retries = 0
`, hook.URL)), "s1")
	h.expectState(messages.StateConnected)
	events := filepath.Join(h.dir, "events.jsonl")
	await(t, "the file sink has every envelope", actortest.Timeout, func() bool { return len(lines(t, events)) >= n })
	await(t, "the webhook holds the first envelope", actortest.Timeout, func() bool { return hook.Received() >= 1 })
	// The file sink took everything; the webhook took none. For a while, watch for acks that
	// must not come.
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got := ackCount(); got != 0 {
			t.Fatalf("%d envelopes acknowledged while the webhook still holds them", got)
		}
	}
	f.Drop()
	await(t, "redelivery after the drop", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return sent >= 2*n
	})

	close(release)
	await(t, "every envelope acknowledged", 30*time.Second, func() bool { return ackCount() == n })
	if got := hook.Seqs(); len(got) < n {
		t.Errorf("webhook got %v, want every envelope at least once", got)
	}
	if framing == "" {
		await(t, "the redelivered envelopes routed again", 30*time.Second, func() bool { return len(lines(t, events)) >= 2*n })
	} else if got := len(lines(t, events)); got != n {
		t.Errorf("%d events routed, want %d: the redelivered ones are duplicates", got, n)
	}
}
