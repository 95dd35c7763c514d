package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A reader that stops reading holds the publisher back (TCP backpressure): its queue fills
// and Generate waits. Cancelling the generator then drops that connection, which has seen
// a gapless prefix, rather than leaving it with a gap.
func TestGenerateBlocksOnSlowReaderAndDropsItOnCancel(t *testing.T) {
	const size = 2048
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- s.Generate(ctx, 0, 0) }()
	// A full queue means the next enqueue blocks the generator until someone reads. A queue
	// seen full for a moment is not enough: the writer may still be moving frames into the
	// socket's buffers, and a generator that is not waiting in enqueue when cancel comes just
	// returns. Once those buffers are full (this client never reads) the writer stops for
	// good, the queue stays full and the seq stops moving: wait for a second of that.
	// (Polled: Await wakes on changes, and this waits for the absence of one.)
	last, since, deadline := uint64(0), time.Now(), time.Now().Add(AwaitTimeout)
	for {
		if seq := s.LastSeq(); seq != last || len(c.out) != cap(c.out) {
			last, since = seq, time.Now()
		} else if time.Since(since) >= time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the generator still moving (seq %d, queue %d of %d) after %v", last, len(c.out), cap(c.out), AwaitTimeout)
		}
		time.Sleep(10 * time.Millisecond) // a poll interval inside a deadline, not a wait for an event
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Generate did not return after cancel")
	}
	s.Await(t, "blocking connection dropped", func() bool { return s.Conns() == 0 })
	prev := 0
	for {
		_ = ws.SetReadDeadline(time.Now().Add(AwaitTimeout)) // frames already sent, then the drop
		_, data, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("read after seq %d: %v, want abnormal closure", prev, err)
			}
			break
		}
		var ev struct{ Seq int }
		if err := json.Unmarshal(data, &ev); err != nil || ev.Seq != prev+1 || len(data) != size {
			t.Fatalf("after seq %d got %d bytes, seq %d, %v", prev, len(data), ev.Seq, err)
		}
		prev = ev.Seq
	}
	if prev == 0 {
		t.Error("no event read before the drop")
	}
}

func TestPadLenAndWritePadded(t *testing.T) {
	for _, tt := range []struct {
		name string
		data string
		size int
		want string
	}{
		{"no target", `{"a":1}`, 0, `{"a":1}`},
		{"already larger", `{"a":1}`, 5, `{"a":1}`},
		{"too small for a pad field", `{"a":1}`, 16, `{"a":1}`},
		{"exact", `{"a":1}`, 20, `{"a":1,"pad":"xxxx"}`},
		{"past one chunk", `{"a":1}`, 100, `{"a":1,"pad":"` + padChunk + "xxxxxxxxxxxxxxxxxxxx" + `"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytesWriter
			if err := writePadded(&b, []byte(tt.data), padLen(len(tt.data), tt.size)); err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("padded %s to %d: got %s, want %s", tt.data, tt.size, b, tt.want)
			}
		})
	}
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
