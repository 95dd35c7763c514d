package supervisor_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
	cfg := h.config(`
  [[stream.route]]
  type = "big"
  sinks = ["events", "copy"]

[[sink]]
name = "copy"
kind = "file"
path = "` + h.path("copy.jsonl") + `"
flush_interval = "10ms"`)
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
}
