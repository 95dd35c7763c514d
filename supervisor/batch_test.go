package supervisor_test

import (
	"encoding/json"
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
