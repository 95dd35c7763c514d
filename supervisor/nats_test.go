package supervisor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/natstest"
	"holdfast/upstream"
)

// natsTOML is one stream "s1" with a cursor, routing every type to a JetStream sink that
// creates its stream.
const natsTOML = `
[daemon]
state_dir = %q

[[sink]]
name = "js"
kind = "nats"
urls = [%q]
subject = "holdfast.{stream}.{type}"
jetstream = "EVENTS"
create_stream = true
max_pending = 64

` + natsStreamTOML

// natsStreamTOML is the stream "s1" of the JetStream tests: a "seq" cursor, every type routed
// to the sink "js", a quick reconnect. Its one %q is the upstream URL.
const natsStreamTOML = `[[stream]]
name = "s1"
url = %q
  [[stream.subscribe]]
  message = { type = "subscribe", channel = "processing" }
  [[stream.route]]
  type = "*"
  sinks = ["js"]
  [stream.reconnect]
  initial_delay = "50ms"
  jitter = "none"
  [stream.cursor]
  field = "seq"
  subscribe_key = "since"
  checkpoint_interval = "50ms"
`

func (h *harness) natsConfig(natsURL string) *config.Config {
	h.t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(natsTOML, h.dir, natsURL, h.up.URL())), "test.toml")
	if err != nil {
		h.t.Fatalf("test config: %v", err)
	}
	return cfg
}

// storedSeqs is the upstream seq of every message JetStream holds in EVENTS.
func storedSeqs(t *testing.T, url string) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := natstest.Stored(ctx, url, "EVENTS")
	if err != nil {
		t.Fatalf("read JetStream: %v", err)
	}
	out := make([]uint64, 0, len(msgs))
	for _, m := range msgs {
		var env struct {
			Message struct{ Seq uint64 }
		}
		if err := json.Unmarshal(m.Data, &env); err != nil {
			t.Fatalf("stored message %q: %v", m.Data, err)
		}
		if want := fmt.Sprintf("s1/%d", env.Message.Seq); m.ID != want {
			t.Errorf("Nats-Msg-Id = %q, want %q", m.ID, want)
		}
		out = append(out, env.Message.Seq)
	}
	return out
}

// TestJetStreamExactlyOnceAcrossDrops is issue test 1: every event lands in JetStream exactly
// once across five upstream drops with resume, and a restart from an older checkpoint (the
// replay a failover makes) stores nothing twice.
func TestJetStreamExactlyOnceAcrossDrops(t *testing.T) {
	ns := natstest.Start(t)
	h := newHarness(t, upstream.Options{})
	cfg := h.natsConfig(ns.URL())
	pid := h.startStream(cfg, "s1")
	inJS := func(n int) {
		t.Helper()
		actortest.Eventually(t, fmt.Sprintf("%d events in JetStream", n), func() bool {
			c, err := natstest.Count(context.Background(), ns.URL(), "EVENTS")
			return err == nil && c >= uint64(n)
		})
	}
	const rounds, per = 5, 200
	for r := 0; r < rounds; r++ {
		h.up.Await(t, "subscription", func() bool { return h.up.Subscribed() == 1 })
		publish(h.up, per)
		inJS(r*(per+per/2) + per)
		h.up.DropConnections()
		publish(h.up, per/2) // published while the daemon is away: replayed on resume
		h.up.Await(t, "the dropped connection gone", func() bool { return h.up.Subscribed() == 0 })
	}
	total := uint64(rounds * (per + per/2))
	inJS(int(total))
	if p := actortest.ExactlyOnce(storedSeqs(t, ns.URL()), total); p != "" {
		t.Fatalf("after %d drops: %s", rounds, p)
	}
	if subs := h.up.Subscriptions(); len(subs) != rounds+1 || subs[1]["since"] == nil {
		t.Fatalf("subscriptions = %v, want %d, re-subscriptions with a cursor", subs, rounds+1)
	}

	// A restart from an older checkpoint replays 1000 events; JetStream drops every one.
	if err := h.sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := os.WriteFile(h.path("s1.cursor"), []byte("500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.startStream(cfg, "s1")
	h.up.Await(t, "a new subscription", func() bool { return h.up.Subscribed() == 1 })
	if since := h.up.Subscriptions()[rounds+1]["since"]; since != float64(500) {
		t.Fatalf("restart subscribed with since=%v, want 500", since)
	}
	publish(h.up, 100)
	inJS(int(total) + 100)
	actortest.Eventually(t, "the replay acknowledged", func() bool {
		st := h.lastState()
		return st != nil && st.State == messages.StateConnected && h.metric("sink_delivered_total", "sink", "js") >= float64(total+100+total-500)
	})
	if p := actortest.ExactlyOnce(storedSeqs(t, ns.URL()), total+100); p != "" {
		t.Fatalf("after a replay from an older checkpoint: %s", p)
	}
}
