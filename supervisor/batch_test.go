package supervisor_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"holdfast/actors/actortest"
	"holdfast/upstream"
)

// TestFramesReadTogetherTravelTogether: events that reach the socket together (held back by
// a frozen upstream, then written in 64 KiB pieces) are routed in batches, each with one
// clock read, so many share a received_at; order and exactly-once hold. An event that comes
// alone afterwards is delivered alone, without waiting for company.
func TestFramesReadTogetherTravelTogether(t *testing.T) {
	h := newHarness(t, upstream.Options{EventSize: 200})
	h.startStream(h.config(""), "s1")
	h.connected()
	const n = 2000
	h.up.Freeze(true)
	publish(h.up, n)
	h.up.Freeze(false)
	path := h.path("events.jsonl")
	actortest.Eventually(t, "2000 events in the file", func() bool { return len(lines(t, path)) >= n })
	if p := actortest.ExactlyOnce(seqs(t, path), n); p != "" {
		t.Fatalf("file sink: %s", p)
	}
	for i, s := range seqs(t, path) {
		if s != uint64(i+1) {
			t.Fatalf("line %d has seq %d: order not kept", i, s)
		}
	}
	stamps := map[string]int{}
	for _, l := range lines(t, path) {
		var at string
		_ = json.Unmarshal(l["received_at"], &at)
		stamps[at]++
	}
	// 2000 frames of 200 B are about 400 KB: read 32 KiB at a time, that is some 13 reads.
	// Allow for many more (short reads under load), but not one clock read per frame.
	if len(stamps) > n/8 {
		t.Errorf("%d events carry %d distinct received_at: not batched (want at most %d)", n, len(stamps), n/8)
	}
	t.Logf("%d events in %d read batches", n, len(stamps))

	publish(h.up, 1) // alone: it must not wait for a batch to fill
	actortest.Eventually(t, "the lone event in the file", func() bool { return len(lines(t, path)) == n+1 })
}

// TestReusedBuffersCarryEveryEventIntact: frames of very different sizes (a few bytes to
// larger than a read batch's buffer), read in large batches and routed to one or two sinks,
// each arrive with exactly the content that was sent. The reader, router and sinks reuse
// their batch buffers; a buffer given back too early would show here as a wrong or torn
// message.
func TestReusedBuffersCarryEveryEventIntact(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	var mu sync.Mutex
	var bodies [][]byte // what the webhook sink posted, in order (concurrency 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	cfg := h.config(`
  [[stream.route]]
  type = "big"
  sinks = ["events", "copy", "hook"]

[[sink]]
name = "copy"
kind = "file"
path = "` + h.path("copy.jsonl") + `"
flush_interval = "10ms"

[[sink]]
name = "hook"
kind = "webhook"
url = "` + hook.URL + `"`)
	h.startStream(cfg, "s1")
	h.connected()
	const n = 600
	sizes := []int{10, 300, 5000, 40000, 70000, 1, 2000}
	blob := func(i int) string { // differs from its neighbours in length and content
		return fmt.Sprintf("%d:", i) + strings.Repeat(string(rune('a'+i%26)), sizes[i%len(sizes)])
	}
	typ := func(i int) string {
		if i%3 == 0 {
			return "big"
		}
		return "small"
	}
	h.up.Freeze(true) // released at once: the frames reach the socket together
	for i := range n {
		h.up.Publish(typ(i), map[string]any{"blob": blob(i), "i": i})
	}
	h.up.Freeze(false)
	check := func(path string, want func(i int) bool) {
		t.Helper()
		count := 0
		for i := range n {
			if want(i) {
				count++
			}
		}
		actortest.Eventually(t, path+" complete", func() bool { return len(lines(t, path)) >= count })
		got := lines(t, path)
		if len(got) != count {
			t.Fatalf("%s: %d lines, want %d", path, len(got), count)
		}
		next := 0
		for _, l := range got {
			var msg struct {
				Blob string
				I    int
				Type string
			}
			if err := json.Unmarshal(l["message"], &msg); err != nil {
				t.Fatalf("%s: message %.100s: %v", path, l["message"], err)
			}
			for !want(next) {
				next++
			}
			if msg.I != next || msg.Type != typ(next) || msg.Blob != blob(next) {
				t.Fatalf("%s: event %d arrived as i=%d type=%q blob %d bytes %.20q…; want i=%d type=%q blob %d bytes",
					path, next, msg.I, msg.Type, len(msg.Blob), msg.Blob, next, typ(next), len(blob(next)))
			}
			next++
		}
	}
	check(h.path("events.jsonl"), func(int) bool { return true })
	check(h.path("copy.jsonl"), func(i int) bool { return typ(i) == "big" })
	// The webhook copies its lines rather than share the router's buffers: intact as well.
	big := 0
	for i := range n {
		if typ(i) == "big" {
			big++
		}
	}
	actortest.Eventually(t, "every big event posted", func() bool { mu.Lock(); defer mu.Unlock(); return len(bodies) >= big })
	mu.Lock()
	defer mu.Unlock()
	next := 0
	for _, b := range bodies {
		var env struct {
			Message struct {
				Blob string
				I    int
			}
		}
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("webhook body %.100q: %v", b, err)
		}
		for typ(next) != "big" {
			next++
		}
		if env.Message.I != next || env.Message.Blob != blob(next) {
			t.Fatalf("webhook: event %d arrived as i=%d with a blob of %d bytes", next, env.Message.I, len(env.Message.Blob))
		}
		next++
	}
}

// TestFramesAroundTheSubscriptionArriveIntact: an upstream that sends events from the moment
// the socket opens, so the reader is in the middle of a batch when the subscription goes
// out and hands that batch on early. Each batch takes its buffer along and gets it back
// cleared once routed; a frame copied into that buffer before the early hand-on but routed
// with the next batch would arrive zeroed.
func TestFramesAroundTheSubscriptionArriveIntact(t *testing.T) {
	blob := func(i int) string { return fmt.Sprintf("%d-", i) + strings.Repeat(string(rune('a'+i%26)), 50+i%200) }
	var sent atomic.Int64
	var finished atomic.Bool
	f := newFeed(t, func(c *feedConn) {
		// Events without pause from the moment the socket opens, until 2000 after the
		// subscription came (at most 200,000 in all).
		stopAt := 200000
		for i := 1; i <= stopAt; i++ {
			if !c.Send(fmt.Sprintf(`{"type":"tick","seq":%d,"blob":%q}`, i, blob(i))) {
				return
			}
			sent.Store(int64(i))
			select {
			case <-c.in:
				stopAt = min(stopAt, i+2000)
			default:
			}
		}
		finished.Store(true)
		for range c.in { // hold the connection until the client leaves
		}
	})
	h := newFeedHarness(t)
	h.startStream(h.feedConfig(f.URL(), `
  [[stream.subscribe]]
  message = { type = "subscribe" }
  [stream.cursor]
  field = "seq"`), "s1")
	events := h.path("events.jsonl")
	await(t, "the feed done", actortest.Timeout, finished.Load)
	n := int(sent.Load())
	await(t, "every event in the file", actortest.Timeout, func() bool { return len(lines(t, events)) >= n })
	for k, l := range lines(t, events) {
		var msg struct {
			Seq  int
			Blob string
		}
		if err := json.Unmarshal(l["message"], &msg); err != nil {
			t.Fatalf("line %d: message %.80q: %v", k, l["message"], err)
		}
		if msg.Seq != k+1 || msg.Blob != blob(k+1) {
			t.Fatalf("line %d: seq %d blob %.20q…, want seq %d with its own blob", k, msg.Seq, msg.Blob, k+1)
		}
	}
	if got := f.Got(); len(got) == 0 || !strings.Contains(got[0], "subscribe") {
		t.Errorf("the feed never saw the subscription: %q", got)
	}
}

// TestReceivedAtIsTheEventsOwnRead: a control frame (here a ping the stream answers) read
// before an event must not lend the event its time. The feed sends the event only after it
// got the answer, so the event's received_at cannot be earlier than that.
func TestReceivedAtIsTheEventsOwnRead(t *testing.T) {
	var sentAt atomic.Int64
	f := newFeed(t, func(c *feedConn) {
		if !c.Send(`{"type":"ping","id":1}`) {
			return
		}
		for {
			s, ok := c.Recv(time.Minute)
			if !ok {
				return
			}
			if strings.Contains(s, `"pong"`) {
				break
			}
		}
		sentAt.Store(time.Now().UnixNano())
		c.Send(`{"type":"tick","seq":1}`)
		for range c.in { // hold the connection until the client leaves
		}
	})
	h := newFeedHarness(t)
	h.startStream(h.feedConfig(f.URL(), `
  [[stream.answer]]
  type = "ping"
  reply = '{"type":"pong","id":${/id}}'`), "s1")
	events := h.path("events.jsonl")
	await(t, "the event in the file", actortest.Timeout, func() bool { return len(lines(t, events)) >= 1 })
	var at time.Time
	if err := json.Unmarshal(lines(t, events)[0]["received_at"], &at); err != nil {
		t.Fatal(err)
	}
	if sent := time.Unix(0, sentAt.Load()); at.Before(sent) {
		t.Errorf("received_at %s is %v before the event was sent (%s): it is the ping's time",
			at.Format(time.RFC3339Nano), sent.Sub(at), sent.Format(time.RFC3339Nano))
	}
}
