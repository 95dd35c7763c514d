package upstream

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Frames that queue up behind a connection go out in writes of up to 64 KiB, in order; a
// frame with nothing queued behind it goes out on its own, at once.
func TestQueuedFramesAreCoalesced(t *testing.T) {
	const n, size = 2000, 200
	s := NewTest(t, Options{EventSize: size})
	ws, _, err := (&websocket.Dialer{}).Dial(s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if err := ws.WriteJSON(map[string]any{"type": "subscribe"}); err != nil {
		t.Fatal(err)
	}
	s.Await(t, "subscription", func() bool { return s.Subscribed() == 1 })
	c := get(s, func() *conn { return s.subs[0] })
	writes := func() int { c.sock.mu.Lock(); defer c.sock.mu.Unlock(); return c.sock.writes }

	// One event with nothing behind it: one write, and the client has it.
	before := writes()
	s.Publish("tick", nil)
	expectSeqs(t, ws, 1, 1, size)
	if got := writes() - before; got != 1 {
		t.Errorf("a lone event took %d writes, want 1", got)
	}

	// n events held back by a freeze, then let go: they queue, so they are coalesced.
	s.Freeze(true)
	for range n {
		s.Publish("tick", nil)
	}
	before = writes()
	s.Freeze(false)
	expectSeqs(t, ws, 2, n+1, size)
	got := writes() - before
	if least := n * size / coalesceMax; got < least || got > 2*least+2 {
		t.Errorf("%d queued events of %d B took %d writes, want %d to %d (64 KiB each)", n, size, got, least, 2*least+2)
	}
}

func expectSeqs(t *testing.T, ws *websocket.Conn, from, to, size int) {
	t.Helper()
	for want := from; want <= to; want++ {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for seq %d: %v", want, err)
		}
		var ev struct{ Seq int }
		if err := json.Unmarshal(data, &ev); err != nil || ev.Seq != want || len(data) != size {
			t.Fatalf("got %d bytes, seq %d (%v), want seq %d of %d bytes", len(data), ev.Seq, err, want, size)
		}
	}
}
