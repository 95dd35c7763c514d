package supervisor_test

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"holdfast/actors/actortest"
	"holdfast/messages"
	"holdfast/upstream"
)

// TestStreamDeliversEventsInOrder: N events reach the file sink in order, each in the
// envelope with the original bytes.
func TestStreamDeliversEventsInOrder(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	h.startStream(h.config(""), "s1")
	h.connected()
	const n = 500
	publish(h.up, n)
	actortest.Eventually(t, "500 events in the file", func() bool { return len(lines(t, h.path("events.jsonl"))) >= n })
	got := lines(t, h.path("events.jsonl"))
	if p := actortest.ExactlyOnce(seqs(t, h.path("events.jsonl")), n); p != "" {
		t.Fatalf("file sink: %s", p)
	}
	for i, l := range got {
		var msg struct{ Seq uint64 }
		_ = json.Unmarshal(l["message"], &msg)
		if msg.Seq != uint64(i+1) {
			t.Fatalf("line %d has seq %d: order not kept", i, msg.Seq)
		}
	}
	first := got[0]
	for _, key := range []string{"stream", "type", "via", "received_at", "message"} {
		if _, ok := first[key]; !ok {
			t.Errorf("envelope %v lacks %q", first, key)
		}
	}
	if string(first["stream"]) != `"s1"` || string(first["type"]) != `"processing_progress"` || string(first["via"]) != `"websocket"` {
		t.Errorf("envelope fields: stream=%s type=%s via=%s", first["stream"], first["type"], first["via"])
	}
	var at string
	_ = json.Unmarshal(first["received_at"], &at)
	if _, err := time.Parse(time.RFC3339Nano, at); err != nil || !strings.HasSuffix(at, "Z") {
		t.Errorf("received_at %q is not RFC3339Nano UTC", at)
	}
	if !json.Valid(first["message"]) || !strings.Contains(string(first["message"]), `"seq":1`) {
		t.Errorf("message is not the original event: %s", first["message"])
	}
}

// TestStreamKeepsGoingAfterBadFrames: garbage, binary and type-less frames are counted and
// dead-lettered, and the events around them still arrive.
func TestStreamKeepsGoingAfterBadFrames(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	h.startStream(h.config(""), "s1")
	h.connected()
	publish(h.up, 1)
	h.up.PublishRaw([]byte("this is not json"), false)
	h.up.PublishRaw([]byte{0x00, 0x01, 0xff}, true)
	h.up.PublishRaw([]byte(`{"kind":"no type"}`), false)
	h.up.PublishRaw([]byte(`[1,2,3]`), false)
	publish(h.up, 1)
	actortest.Eventually(t, "2 events and 4 rejects", func() bool {
		return len(lines(t, h.path("events.jsonl"))) == 2 && len(lines(t, h.path("rejects.jsonl"))) == 4
	})
	reasons := []string{}
	for _, l := range lines(t, h.path("rejects.jsonl")) {
		var r string
		_ = json.Unmarshal(l["rejected"], &r)
		reasons = append(reasons, r)
	}
	want := []string{messages.InvalidJSON, messages.InvalidBinary, messages.InvalidType, messages.InvalidObject}
	if strings.Join(reasons, ",") != strings.Join(want, ",") {
		t.Errorf("reject reasons = %v, want %v", reasons, want)
	}
	actortest.Eventually(t, "router stats counting 4 parse errors", func() bool {
		for _, m := range h.probe.Messages() {
			if rs, ok := m.(*messages.RouterStats); ok && rs.ParseErrors == 4 && rs.EventsIn == 2 {
				return true
			}
		}
		return false
	})
}

// TestStreamRedialsAfterDrop: the strategy restarts the connection after the backoff delay,
// and only then: time moves by hand.
func TestStreamRedialsAfterDrop(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(`
  [stream.reconnect]
  initial_delay = "1s"
  max_delay = "30s"
  jitter = "none"`), "s1")
	h.connected()
	h.up.DropConnections()
	st := h.expectState(messages.StateBackoff)
	if st.Attempt != 1 || st.RetryIn != time.Second {
		t.Fatalf("after a drop: attempt %d retry_in %v, want 1 and 1s", st.Attempt, st.RetryIn)
	}
	if got := h.up.Handshakes(); got != 1 {
		t.Fatalf("redialled before the delay: %d handshakes", got)
	}
	clock.Advance(time.Second) // the first backoff delay, with no real waiting
	h.expectState(messages.StateConnected)
	if got := h.up.Handshakes(); got != 2 {
		t.Errorf("handshakes = %d, want 2", got)
	}
}

// TestStreamResumesWithoutLossOrDuplicate: drops in the middle of a stream are followed by
// reconnect, re-subscribe with the cursor and replay; the sink holds every seq exactly once.
func TestStreamResumesWithoutLossOrDuplicate(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(`
  [stream.reconnect]
  initial_delay = "100ms"
  jitter = "none"
  [stream.cursor]
  field = "seq"
  subscribe_key = "since"`), "s1")
	h.expectState(messages.StateConnected)
	const rounds, per = 5, 200
	inFile := func(n int) {
		actortest.Eventually(t, fmt.Sprintf("%d events in the file", n), func() bool {
			clock.Advance(10 * time.Millisecond) // the file sink flushes on the clock
			return len(lines(t, h.path("events.jsonl"))) >= n
		})
	}
	for r := 0; r < rounds; r++ {
		h.up.Await(t, "subscription", func() bool { return h.up.Subscribed() == 1 })
		publish(h.up, per)
		inFile(r*(per+per/2) + per) // the daemon has read this round's live events
		h.up.DropConnections()
		publish(h.up, per/2) // published while the daemon is away: must be replayed
		st := h.expectState(messages.StateBackoff)
		clock.Advance(st.RetryIn)
		h.expectState(messages.StateConnected)
	}
	total := uint64(rounds * (per + per/2))
	inFile(int(total))
	if p := actortest.ExactlyOnce(seqs(t, h.path("events.jsonl")), total); p != "" {
		t.Fatalf("after %d drops: %s", rounds, p)
	}
	subs := h.up.Subscriptions()
	if len(subs) != rounds+1 {
		t.Fatalf("subscriptions = %d, want %d (one per connect)", len(subs), rounds+1)
	}
	if _, ok := subs[0]["since"]; ok {
		t.Errorf("first subscription carries a cursor: %v", subs[0])
	}
	if subs[1]["since"] == nil {
		t.Errorf("re-subscription lacks the cursor: %v", subs[1])
	}
}

// TestHeartbeatDetectsHalfOpenLink: a peer that stops answering without closing is found
// within timeout plus one interval, and the stream reconnects.
func TestHeartbeatDetectsHalfOpenLink(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(`
  [stream.heartbeat]
  mode = "message"
  interval = "5s"
  timeout = "3s"
  [stream.reconnect]
  initial_delay = "1s"
  jitter = "none"`), "s1")
	h.connected()
	clock.AwaitTimer(t, 5*time.Second) // the heartbeat has armed its first ping
	h.up.Freeze(true)
	start := clock.Now()
	clock.Advance(5 * time.Second)     // the first ping goes out and is never answered
	clock.AwaitTimer(t, 3*time.Second) // its pong deadline
	clock.Advance(2 * time.Second)
	for _, m := range h.probe.Messages() {
		if st, ok := m.(*messages.StreamState); ok && st.State == messages.StateBackoff {
			t.Fatalf("declared dead before the timeout")
		}
	}
	clock.Advance(time.Second)
	st := h.expectState(messages.StateBackoff)
	if waited := clock.Now().Sub(start); waited > 8*time.Second {
		t.Errorf("detected after %v, want within timeout+interval = 8s", waited)
	}
	if !strings.Contains(st.LastError, "heartbeat timeout") {
		t.Errorf("last error %q, want heartbeat timeout", st.LastError)
	}
	h.up.Freeze(false)
	clock.Advance(time.Second)
	h.expectState(messages.StateConnected)
}

// TestHeartbeatKeepsHealthyLink: a peer that answers pings is never declared dead.
func TestHeartbeatKeepsHealthyLink(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(`
  [stream.heartbeat]
  mode = "both"
  interval = "5s"
  timeout = "3s"`), "s1")
	h.connected()
	clock.AwaitTimer(t, 5*time.Second)
	for i := 0; i < 5; i++ {
		before := testutilCount(h)
		clock.Advance(5 * time.Second) // ping
		actortest.Eventually(t, "pong observed", func() bool { return testutilCount(h) > before })
		clock.Advance(4 * time.Second) // past the timeout: a missed pong would fail the link now
	}
	for _, m := range h.probe.Messages() {
		if st, ok := m.(*messages.StreamState); ok && st.State == messages.StateBackoff {
			t.Fatalf("healthy link declared dead: %+v", st)
		}
	}
	if h.up.Handshakes() != 1 {
		t.Errorf("handshakes = %d, want 1", h.up.Handshakes())
	}
}

// TestFlappingServerDoesNotResetAttempts: a server that accepts and drops at once keeps the
// attempt count growing, so backoff grows too.
func TestFlappingServerDoesNotResetAttempts(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.up.AcceptThenDrop(true)
	h.startStream(h.config(`
  [stream.reconnect]
  initial_delay = "1s"
  max_delay = "60s"
  stable_after = "30s"
  jitter = "none"`), "s1")
	want := time.Second
	for attempt := 1; attempt <= 5; attempt++ {
		st := h.expectState(messages.StateBackoff)
		if st.Attempt != attempt || st.RetryIn != want {
			t.Fatalf("flap %d: attempt %d retry_in %v, want %d and %v", attempt, st.Attempt, st.RetryIn, attempt, want)
		}
		clock.Advance(want)
		want *= 2
	}
}

// TestStableLinkResetsAttempts: after stable_after of health the next drop starts over.
func TestStableLinkResetsAttempts(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(`
  [stream.reconnect]
  initial_delay = "1s"
  stable_after = "30s"
  jitter = "none"`), "s1")
	h.connected()
	h.up.DropConnections()
	h.expectState(messages.StateBackoff)
	clock.Advance(time.Second)
	h.connected()
	h.up.DropConnections()
	if st := h.expectState(messages.StateBackoff); st.Attempt != 2 {
		t.Fatalf("second quick drop: attempt %d, want 2", st.Attempt)
	}
	clock.Advance(2 * time.Second)
	h.connected()
	clock.Advance(31 * time.Second)
	h.up.DropConnections()
	if st := h.expectState(messages.StateBackoff); st.Attempt != 1 || st.RetryIn != time.Second {
		t.Fatalf("drop after a stable link: attempt %d retry_in %v, want 1 and 1s", st.Attempt, st.RetryIn)
	}
}

// TestGiveUpWithoutFallbackFails: after max_attempts the stream is failed and not retried.
func TestGiveUpWithoutFallbackFails(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.up.RefuseUpgrades(503, "")
	h.startStream(h.config(`
  [stream.reconnect]
  initial_delay = "1s"
  max_attempts = 2
  jitter = "none"`), "s1")
	h.expectState(messages.StateBackoff)
	clock.Advance(time.Second)
	h.expectState(messages.StateBackoff)
	clock.Advance(2 * time.Second)
	st := h.expectState(messages.StateFailed)
	if !strings.Contains(st.LastError, "503") {
		t.Errorf("last error %q should name the refusal", st.LastError)
	}
	clock.Advance(time.Hour)
	if n := h.up.Handshakes(); n != 0 {
		t.Errorf("handshakes after giving up = %d, want 0", n)
	}
}

// TestRetryAfterIsHonoured: a refused handshake's Retry-After sets the next delay.
func TestRetryAfterIsHonoured(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.up.RefuseUpgrades(503, "7")
	h.startStream(h.config(`
  [stream.reconnect]
  initial_delay = "1s"
  jitter = "none"`), "s1")
	if st := h.expectState(messages.StateBackoff); st.RetryIn != 7*time.Second {
		t.Fatalf("retry_in %v, want the server's 7s", st.RetryIn)
	}
	h.up.RefuseUpgrades(0, "")
	clock.Advance(6 * time.Second)
	if h.up.Handshakes() != 0 {
		t.Fatal("redialled before Retry-After")
	}
	clock.Advance(time.Second)
	h.expectState(messages.StateConnected)
}

// TestAuthMessage covers success, refusal without a tight loop, and a rotated token file.
func TestAuthMessage(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{Token: "first"})
	tokenFile := h.path("token")
	if err := os.WriteFile(tokenFile, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.startStream(h.config(`
  [stream.auth]
  mode = "message"
  token_file = "`+tokenFile+`"
  [stream.reconnect]
  initial_delay = "1s"
  max_delay = "20s"
  jitter = "none"`), "s1")
	h.expectState(messages.StateConnected)
	h.up.Await(t, "subscription after auth", func() bool { return h.up.Subscribed() == 1 })

	// The upstream rotates its token; the file still holds the old one: refused.
	h.up.SetToken("second")
	h.up.DropConnections()
	h.expectState(messages.StateBackoff)
	clock.Advance(time.Second)
	st := h.expectState(messages.StateAuthFailed)
	if st.RetryIn != 20*time.Second {
		t.Errorf("after a refusal retry_in = %v, want max_delay 20s", st.RetryIn)
	}
	attempts := h.up.AuthAttempts()
	clock.Advance(19 * time.Second)
	if got := h.up.AuthAttempts(); got != attempts {
		t.Fatalf("auth retried %d times within max_delay: a tight loop", got-attempts)
	}
	// The operator rotates the file: the next attempt reads it and gets in.
	if err := os.WriteFile(tokenFile, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	h.expectState(messages.StateConnected)
}

// TestAuthHeaderRefusedIsAuthFailed: a 401 on the upgrade puts the stream in auth_failed,
// and with on_failure = stop it is never retried.
func TestAuthHeaderRefusedIsAuthFailed(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{Token: "right"})
	t.Setenv("HOLDFAST_TEST_TOKEN", "wrong")
	h.startStream(h.config(`
  [stream.auth]
  mode = "header"
  token_env = "HOLDFAST_TEST_TOKEN"
  on_failure = "stop"`), "s1")
	h.expectState(messages.StateAuthFailed)
	attempts := h.up.AuthAttempts()
	clock.Advance(time.Hour)
	if got := h.up.AuthAttempts(); got != attempts {
		t.Errorf("on_failure = stop retried %d times", got-attempts)
	}
}

// TestOneStreamsFaultsDoNotTouchAnother: a second stream whose upstream drops and sends
// garbage does not disturb the first.
func TestOneStreamsFaultsDoNotTouchAnother(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	bad := upstream.NewTest(t, upstream.Options{})
	cfg := h.config(`
[[stream]]
name = "s2"
url = "` + bad.URL() + `"
  [[stream.subscribe]]
  message = { type = "subscribe", channel = "processing" }
  [[stream.route]]
  type = "*"
  sinks = ["rejects"]
  [stream.reconnect]
  initial_delay = "10ms"
  max_delay = "20ms"`)
	h.startStream(cfg, "s1")
	h.startStream(cfg, "s2")
	h.up.Await(t, "s1 subscribed", func() bool { return h.up.Subscribed() == 1 })
	const n = 1000
	for i := 0; i < 10; i++ { // the bad upstream misbehaves while the good one publishes
		bad.Await(t, "s2 back", func() bool { return bad.Subscribed() == 1 })
		bad.PublishRaw([]byte("garbage"), false)
		bad.DropConnections()
		publish(h.up, n/10)
	}
	actortest.Eventually(t, "every s1 event", func() bool { return len(lines(t, h.path("events.jsonl"))) >= n })
	if p := actortest.ExactlyOnce(seqs(t, h.path("events.jsonl")), n); p != "" {
		t.Fatalf("s1 disturbed by s2: %s", p)
	}
	if h.up.Handshakes() != 1 {
		t.Errorf("s1 reconnected %d times", h.up.Handshakes()-1)
	}
}

// TestSlowSinkBoundsMemory: while a sink is stalled the reader stops reading, so the heap
// stays flat although the upstream has far more to send; once the sink moves every event
// arrives.
func TestSlowSinkBoundsMemory(t *testing.T) {
	h := newHarness(t, upstream.Options{EventSize: 2048})
	release := make(chan struct{})
	hook := newStallingWebhook(t, release)
	cfg := h.config(`
[[sink]]
name = "slow"
kind = "webhook"
url = "` + hook.URL + `"
buffer = 16
batch_max = 100
`)
	cfg.Streams[0].Routes[0].Sinks = []string{"slow"}
	h.startStream(cfg, "s1")
	h.connected()
	const n = 10000 // 20 MB of events
	published := make(chan struct{})
	go func() { defer close(published); publish(h.up, n) }()
	actortest.Eventually(t, "the webhook to stall", func() bool { return hook.Received() >= 1 })
	before, last := h.heldBack()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown > 16<<20 {
		t.Errorf("heap grew %d MB while the sink was stalled: not bounded", grown>>20)
	}
	if last >= n {
		t.Fatal("the upstream sent all 40 MB while the sink was stalled: no backpressure")
	}
	t.Logf("held back after %d of %d events; heap grew %d KB", last, n, grown>>10)
	close(release)
	<-published
	// The stalled webhook now takes ~100 events per request; on a loaded 2-core machine under
	// -race that can take several seconds: a generous deadline, the condition decides.
	await(t, "every event at the webhook", time.Minute, func() bool { return hook.Received() >= n })
	if p := actortest.ExactlyOnce(hook.Seqs(), n); p != "" {
		t.Fatalf("after the stall: %s", p)
	}
}

// TestStaleFeedResubscribesThenReconnects: pongs still flow but no event arrives for
// stale_after: the subscriptions are sent again, and after another silent period the
// stream reconnects.
func TestStaleFeedResubscribesThenReconnects(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(`
  [stream.heartbeat]
  mode = "off"
  stale_after = "30s"
  [stream.reconnect]
  initial_delay = "1s"
  jitter = "none"`), "s1")
	h.connected()
	clock.AwaitTimer(t, 30*time.Second)
	clock.Advance(30 * time.Second)
	h.up.Await(t, "a second subscription", func() bool { return len(h.up.Subscriptions()) == 2 })
	clock.AwaitTimer(t, 30*time.Second)
	clock.Advance(30 * time.Second)
	st := h.expectState(messages.StateBackoff)
	if !strings.Contains(st.LastError, "no events") {
		t.Errorf("last error %q, want no events", st.LastError)
	}
	clock.Advance(time.Second)
	h.connected()
}

// TestEventsKeepStaleWatchdogQuiet: a feed with events is never resubscribed.
func TestEventsKeepStaleWatchdogQuiet(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(`
  [stream.heartbeat]
  mode = "off"
  stale_after = "30s"`), "s1")
	h.connected()
	clock.AwaitTimer(t, 30*time.Second)
	for i := 0; i < 4; i++ {
		publish(h.up, 1)
		want := uint64(i + 1)
		actortest.Eventually(t, "the router to see the event", func() bool {
			clock.Advance(time.Second) // the router reports activity on its clock
			for _, m := range h.probe.Messages() {
				if rs, ok := m.(*messages.RouterStats); ok && rs.EventsIn >= want {
					return true
				}
			}
			return false
		})
		clock.Advance(20 * time.Second)
	}
	if n := len(h.up.Subscriptions()); n != 1 {
		t.Errorf("subscriptions = %d, want 1: a live feed was treated as stale", n)
	}
}

// TestCleanRestartResumesFromCheckpoint: a stream stopped cleanly saves its cursor after the
// sinks flushed; a new stream on the same state dir subscribes from it and the file ends with
// every seq exactly once.
func TestCleanRestartResumesFromCheckpoint(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	cfg := h.config(`
  [stream.cursor]
  field = "seq"
  checkpoint_interval = "50ms"`)
	pid := h.startStream(cfg, "s1")
	h.connected()
	publish(h.up, 300)
	actortest.Eventually(t, "300 events in the file", func() bool { return len(lines(t, h.path("events.jsonl"))) >= 300 })
	if err := h.sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	saved, err := os.ReadFile(h.path("s1.cursor"))
	if err != nil || strings.TrimSpace(string(saved)) != "300" {
		t.Fatalf("cursor file = %q (%v), want 300", saved, err)
	}
	publish(h.up, 200) // while the daemon is down
	h.up.Await(t, "the old connection gone", func() bool { return h.up.Conns() == 0 })
	h.startStream(cfg, "s1")
	h.up.Await(t, "a new subscription", func() bool { return len(h.up.Subscriptions()) == 2 })
	if since := h.up.Subscriptions()[1]["since"]; since != float64(300) {
		t.Fatalf("restarted stream subscribed with since=%v, want 300", since)
	}
	publish(h.up, 100)
	actortest.Eventually(t, "600 events in the file", func() bool { return len(lines(t, h.path("events.jsonl"))) >= 600 })
	if p := actortest.ExactlyOnce(seqs(t, h.path("events.jsonl")), 600); p != "" {
		t.Fatalf("across a clean restart: %s", p)
	}
}

// TestOversizeFrameIsAClearError: a frame above read_limit fails the link with an error that
// says so, and the stream reconnects.
func TestOversizeFrameIsAClearError(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	cfg := h.config(`
  [stream.reconnect]
  initial_delay = "1s"
  jitter = "none"`)
	cfg.Streams[0].ReadLimit = 1024
	h.startStream(cfg, "s1")
	h.connected()
	h.up.PublishRaw([]byte(`{"type":"big","pad":"`+strings.Repeat("x", 4096)+`"}`), false)
	st := h.expectState(messages.StateBackoff)
	if !strings.Contains(st.LastError, "read_limit") {
		t.Errorf("last error %q should name read_limit", st.LastError)
	}
	clock.Advance(time.Second)
	h.connected()
}

// TestInvalidUTF8TypeIsRouted: a type with bytes that are not UTF-8 neither crashes the
// router (metrics labels must be UTF-8) nor stops the stream.
func TestInvalidUTF8TypeIsRouted(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	h.startStream(h.config(""), "s1")
	h.connected()
	h.up.PublishRaw([]byte("{\"type\":\"bad\xfftype\",\"seq\":1}"), false)
	publish(h.up, 1)
	actortest.Eventually(t, "both events in the file", func() bool { return len(lines(t, h.path("events.jsonl"))) == 2 })
	for _, m := range h.probe.Messages() {
		if st, ok := m.(*messages.StreamState); ok && st.State == messages.StateBackoff {
			t.Fatalf("the stream reconnected: %+v", st)
		}
	}
}

// TestAuthHeaderAndQuery: the token travels as a header or a query parameter and is read
// from the environment at connect.
func TestAuthHeaderAndQuery(t *testing.T) {
	for _, tt := range []struct{ name, auth string }{
		{"header", `
  [stream.auth]
  mode = "header"
  token_env = "HOLDFAST_TEST_TOKEN"`},
		{"query", `
  [stream.auth]
  mode = "query"
  query_param = "token"
  token_env = "HOLDFAST_TEST_TOKEN"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, upstream.Options{Token: "s3cret"})
			t.Setenv("HOLDFAST_TEST_TOKEN", "s3cret")
			h.startStream(h.config(tt.auth), "s1")
			h.connected()
			publish(h.up, 3)
			actortest.Eventually(t, "3 events", func() bool { return len(lines(t, h.path("events.jsonl"))) == 3 })
		})
	}
}

// TestClose1008IsAuthFailedInEveryMode: a close 1008 (policy violation) after the link is up
// means the token was refused or revoked, whichever way it travelled: the stream goes to
// auth_failed and, with on_failure = stop, stays there.
func TestClose1008IsAuthFailedInEveryMode(t *testing.T) {
	for _, mode := range []string{"header", "query", "message"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, upstream.Options{Token: "s3cret"})
			t.Setenv("HOLDFAST_TEST_TOKEN", "s3cret")
			h.startStream(h.config(`
  [stream.auth]
  mode = "`+mode+`"
  query_param = "token"
  token_env = "HOLDFAST_TEST_TOKEN"
  on_failure = "stop"`), "s1")
			h.connected()
			h.up.CloseConnections(websocket.ClosePolicyViolation, "token revoked")
			var st *messages.StreamState
			for st == nil || st.State == messages.StateConnected {
				st = actortest.Expect[*messages.StreamState](t, h.probe)
			}
			if st.State != messages.StateAuthFailed {
				t.Fatalf("after close 1008 in %s mode the state is %s (%s), want %s",
					mode, st.State, st.LastError, messages.StateAuthFailed)
			}
		})
	}
}

// TestTokensNeverLogged: in every auth mode, accepted or refused, the token appears in no
// log line and no status error, at debug level.
func TestTokensNeverLogged(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a"
	for _, tt := range []struct{ name, auth, serverToken string }{
		{"message accepted", `mode = "message"`, token},
		{"message refused", `mode = "message"`, "other"},
		{"header refused", `mode = "header"`, "other"},
		{"query accepted", "mode = \"query\"\n  query_param = \"token\"", token},
		{"query refused", "mode = \"query\"\n  query_param = \"token\"", "other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, upstream.Options{Token: tt.serverToken})
			t.Setenv("HOLDFAST_TEST_TOKEN", token)
			_, logs := h.startStreamLogged(h.config(`
  [stream.auth]
  `+tt.auth+`
  token_env = "HOLDFAST_TEST_TOKEN"
  on_failure = "stop"`), "s1")
			var st *messages.StreamState
			for st == nil || (st.State != messages.StateConnected && st.State != messages.StateAuthFailed) {
				st = actortest.Expect[*messages.StreamState](t, h.probe)
			}
			if want := map[bool]string{true: messages.StateConnected, false: messages.StateAuthFailed}[tt.serverToken == token]; st.State != want {
				t.Fatalf("state %s, want %s", st.State, want)
			}
			if strings.Contains(logs.String(), token) || strings.Contains(st.LastError, token) {
				t.Fatalf("the token leaked:\nlogs: %s\nlast error: %s", logs.String(), st.LastError)
			}
		})
	}
}

// heldBack notes the heap, then waits until the upstream's publisher is blocked because
// every buffer on the way is full: its count has not moved for 40 polls (200 ms). It
// returns the heap as it was before the wait and the last seq published.
func (h *harness) heldBack() (before runtime.MemStats, last uint64) {
	h.t.Helper()
	runtime.GC()
	runtime.ReadMemStats(&before)
	still := 0
	actortest.Eventually(h.t, "the upstream to be held back", func() bool {
		if s := h.up.LastSeq(); s != last {
			last, still = s, 0
		} else {
			still++
		}
		return still >= 40
	})
	return before, last
}

// TestFirstEventsPredecessorSavedAtOnce: a stream that starts without a checkpoint saves the
// first routed event's predecessor (seq 1 → "0") at once, while its only sink has finished
// nothing, so a crash before the first regular checkpoint resumes from the first event
// rather than subscribing for live events only. Later checkpoints move on as usual.
func TestFirstEventsPredecessorSavedAtOnce(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	release := make(chan struct{})
	hook := newStallingWebhook(t, release)
	cfg := h.config(`
  [stream.cursor]
  field = "seq"
  checkpoint_interval = "50ms"

[[sink]]
name = "slow"
kind = "webhook"
url = "` + hook.URL + `"
`)
	cfg.Streams[0].Routes[0].Sinks = []string{"slow"}
	h.startStream(cfg, "s1")
	var once sync.Once
	answer := func() { once.Do(func() { close(release) }) }
	t.Cleanup(answer) // before the stream stops (cleanups run last-in first-out)
	h.connected()
	publish(h.up, 5)
	actortest.Eventually(t, "the webhook holding the first event", func() bool { return hook.Received() >= 1 })
	actortest.Eventually(t, "the cursor file holding 0", func() bool {
		b, err := os.ReadFile(h.path("s1.cursor"))
		return err == nil && strings.TrimSpace(string(b)) == "0"
	})
	answer()
	actortest.Eventually(t, "the checkpoint at 5 once the webhook answers", func() bool {
		b, err := os.ReadFile(h.path("s1.cursor"))
		return err == nil && strings.TrimSpace(string(b)) == "5"
	})
}
