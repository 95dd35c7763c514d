package supervisor_test

import (
	"testing"
	"time"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/upstream"
)

// TestServerHintsAreCapped: a server that asks for a year (Retry-After on a refused
// handshake, or close 1013 with the seconds as its reason), or for more seconds than a
// Duration holds, parks the stream for reconnect.max_hint (default 5m), not for the year.
func TestServerHintsAreCapped(t *testing.T) {
	const reconnect = `
  [stream.heartbeat]
  mode = "off"
  [stream.reconnect]
  initial_delay = "1s"
  jitter = "none"`
	for _, tt := range []struct {
		name  string
		fault func(h *harness)
	}{
		{"Retry-After a year", func(h *harness) { h.up.RefuseUpgrades(503, "31536000"); h.up.DropConnections() }},
		{"Retry-After past a Duration", func(h *harness) { h.up.RefuseUpgrades(503, "99999999999"); h.up.DropConnections() }},
		{"close 1013 asking for a year", func(h *harness) { h.up.CloseConnections(1013, "31536000") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, clock := newClockedHarness(t, upstream.Options{})
			h.startStream(h.config(reconnect), "s1")
			h.connected()
			handshakes := h.up.Handshakes()
			tt.fault(h)
			st := h.expectState(messages.StateBackoff)
			if tt.name == "close 1013 asking for a year" {
				// The socket was up: the drop itself is attempt 1, and 1013 makes it wait.
				if st.RetryIn != config.DefaultMaxHint {
					t.Fatalf("retry_in %v after close 1013 \"31536000\", want max_hint %v", st.RetryIn, config.DefaultMaxHint)
				}
			} else {
				// The drop backs off 1s; the refused redial carries the hint.
				clock.Advance(st.RetryIn)
				st = h.expectState(messages.StateBackoff)
				if st.RetryIn != config.DefaultMaxHint {
					t.Fatalf("retry_in %v after the refusal, want max_hint %v", st.RetryIn, config.DefaultMaxHint)
				}
			}
			h.up.RefuseUpgrades(0, "")
			before := h.up.Handshakes()
			clock.Advance(config.DefaultMaxHint - time.Second)
			if n := h.up.Handshakes(); n != before {
				t.Fatalf("%d handshakes before max_hint passed, want none", n-before)
			}
			clock.Advance(time.Second)
			h.expectState(messages.StateConnected)
			if n := h.up.Handshakes(); n <= handshakes {
				t.Errorf("handshakes %d, want a new connection after max_hint", n)
			}
		})
	}
}

// TestHintedWaitsStillGiveUpToPolling: with max_attempts and a fallback, a server that keeps
// asking for a year still uses up the attempts (each hinted wait counts, and each is capped),
// so the stream gives up and polls instead of waiting forever.
func TestHintedWaitsStillGiveUpToPolling(t *testing.T) {
	h, clock := newClockedHarness(t, upstream.Options{})
	h.startStream(h.config(fallbackTOML(h.up, "2s", "30s")), "s1")
	h.connected()
	h.up.RefuseUpgrades(503, "31536000")
	h.up.DropConnections()
	var waited time.Duration
	for {
		st := h.expectState(messages.StateBackoff)
		if st.RetryIn > config.DefaultMaxHint {
			t.Fatalf("retry_in %v, want at most max_hint %v", st.RetryIn, config.DefaultMaxHint)
		}
		waited += st.RetryIn
		clock.Advance(st.RetryIn)
		if st.Attempt == 2 { // max_attempts: the next failure gives up
			break
		}
	}
	st := h.expectState(messages.StatePolling)
	if st.Via != messages.ViaPoll {
		t.Errorf("via %q, want poll", st.Via)
	}
	h.up.Await(t, "the first poll", func() bool { return h.up.Polls() >= 1 })
	if limit := 2 * config.DefaultMaxHint; waited > limit {
		t.Errorf("waited %v in backoff before polling, want at most %v", waited, limit)
	}
}
