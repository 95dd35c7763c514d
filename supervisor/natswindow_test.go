package supervisor_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/natstest"
	"holdfast/upstream"
)

// windowTOML: the sink publishes to holdfast.s1.<type>, at most 8 unacknowledged, PubAck
// timeout 1s, retried (practically) forever.
const windowTOML = `
[daemon]
state_dir = %q

[[sink]]
name = "js"
kind = "nats"
urls = [%q]
subject = "holdfast.{stream}.{type}"
jetstream = "EVENTS"
max_pending = 8
timeout = "1s"
max_retries = 100000
buffer = 16

` + natsStreamTOML

// silentSub receives what the sink publishes on holdfast.> and never answers, so no
// PubAck ever comes back (and the publish is not refused as having no responders).
type silentSub struct {
	mu  sync.Mutex
	ids map[string]int
	sub *nats.Subscription
}

func (s *silentSub) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// TestJetStreamUnackedWindowHoldsTheReaderBack: while no PubAck comes back, the nats sink
// has at most max_pending publishes out (the same batch, retried), the stream stops reading
// the upstream, and the heap stays bounded; once the subject is captured by the stream,
// every event lands exactly once.
func TestJetStreamUnackedWindowHoldsTheReaderBack(t *testing.T) {
	ns := natstest.Start(t)
	nc, js := natstest.JetStream(t, ns.URL())
	ctx := context.Background()
	// EVENTS exists (the sink checks it) but does not capture the sink's subjects yet.
	sc := jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"elsewhere.>"}, Duplicates: 2 * time.Minute}
	if _, err := js.CreateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	silent := &silentSub{ids: map[string]int{}}
	var err error
	silent.sub, err = nc.Subscribe("holdfast.>", func(m *nats.Msg) {
		silent.mu.Lock()
		silent.ids[m.Header.Get("Nats-Msg-Id")]++
		silent.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t, upstream.Options{EventSize: 2048})
	cfg, err := config.Parse([]byte(fmt.Sprintf(windowTOML, h.dir, ns.URL(), h.up.URL())), "test.toml")
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	h.startStream(cfg, "s1")
	h.connected()
	const n = 10000 // 20 MB of events
	published := make(chan struct{})
	go func() { defer close(published); publish(h.up, n) }()
	actortest.Eventually(t, "the first publishes to reach the silent subscriber", func() bool { return silent.distinct() >= 1 })
	before, last := h.heldBack()
	// At least one PubAck timeout and retry went by before the window is judged.
	actortest.Eventually(t, "a publish retried", func() bool {
		silent.mu.Lock()
		defer silent.mu.Unlock()
		for _, c := range silent.ids {
			if c >= 2 {
				return true
			}
		}
		return false
	})
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown > 16<<20 {
		t.Errorf("heap grew %d MB while no PubAck came back: not bounded", grown>>20)
	}
	if last >= n {
		t.Fatal("the upstream sent all 20 MB while no PubAck came back: no backpressure")
	}
	if d := silent.distinct(); d > 8 {
		t.Errorf("%d distinct events published without a PubAck, want at most max_pending = 8", d)
	}
	if got := h.metric("sink_delivered_total", "sink", "js"); got != 0 {
		t.Errorf("sink_delivered_total = %v while nothing was acknowledged, want 0", got)
	}
	t.Logf("held back after %d of %d events; %d distinct events in flight; heap grew %d KB",
		last, n, silent.distinct(), grown>>10)

	// The stream captures the subjects and the silent subscriber goes: acks flow again.
	if err := silent.sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	sc.Subjects = append(sc.Subjects, "holdfast.>")
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	<-published
	actortest.Eventually(t, "every event in JetStream", func() bool {
		c, err := natstest.Count(ctx, ns.URL(), "EVENTS")
		return err == nil && c >= n
	})
	if p := actortest.ExactlyOnce(storedSeqs(t, ns.URL()), n); p != "" {
		t.Fatalf("after the stall: %s", p)
	}
}
