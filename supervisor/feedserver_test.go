package supervisor_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/metrics"
)

// feed is a scripted gorilla/websocket upstream on 127.0.0.1 for feeds that do not speak
// holdfast's own protocol. Every connection runs script; the feed records every text frame
// that clients sent.
type feed struct {
	srv    *httptest.Server
	script func(*feedConn)

	mu         sync.Mutex
	conns      map[*websocket.Conn]bool
	handshakes int
	got        []string
	changed    chan struct{} // closed and replaced whenever something above changes
}

// feedConn is one client connection as the script sees it: Send writes (only the script
// writes), Recv waits for the client's next frame.
type feedConn struct {
	ws *websocket.Conn
	in chan string
}

func newFeed(t *testing.T, script func(*feedConn)) *feed {
	f := &feed{script: script, conns: map[*websocket.Conn]bool{}, changed: make(chan struct{})}
	up := websocket.Upgrader{}
	var wg sync.WaitGroup
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		fc := &feedConn{ws: ws, in: make(chan string, 1024)}
		f.update(func() { f.conns[ws] = true; f.handshakes++ })
		go func() {
			defer close(fc.in)
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				f.update(func() { f.got = append(f.got, string(data)) })
				select {
				case fc.in <- string(data):
				default: // the script is not listening: the frame is still recorded
				}
			}
		}()
		script(fc)
		_ = ws.Close()
		for range fc.in { // wait for the reader
		}
		f.update(func() { delete(f.conns, ws) })
	}))
	t.Cleanup(func() {
		f.Drop()
		f.srv.Close()
		wg.Wait()
	})
	return f
}

func (f *feed) URL() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws" }

func (f *feed) update(change func()) {
	f.mu.Lock()
	change()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// Drop closes every connection without a close frame, as a network failure would.
func (f *feed) Drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ws := range f.conns {
		_ = ws.UnderlyingConn().Close()
	}
}

// Got is every text frame clients sent, in arrival order.
func (f *feed) Got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func (f *feed) Handshakes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handshakes
}

// Send writes one text frame; false once the connection is gone.
func (c *feedConn) Send(s string) bool {
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s)) == nil
}

// Recv is the client's next frame; false when the connection ended or nothing came in time.
func (c *feedConn) Recv(within time.Duration) (string, bool) {
	select {
	case s, ok := <-c.in:
		return s, ok
	case <-time.After(within):
		return "", false
	}
}

// newFeedHarness is a harness (actor system, probe, state dir) whose upstream is a feed.
func newFeedHarness(t *testing.T) *harness {
	sys, probe := actortest.NewSystem(t)
	return &harness{t: t, sys: sys, probe: probe, dir: t.TempDir(), m: metrics.New()}
}

// feedConfig is the stream rig (actortest.Stream) on url; extra goes inside the stream,
// before its route.
func (h *harness) feedConfig(url, extra string) *config.Config {
	h.t.Helper()
	return actortest.Stream{Dir: h.dir, URL: url, Keys: extra}.Config(h.t)
}

// await waits until cond holds, failing after within: the end-to-end tests run next to
// other work, so their deadlines are generous and they never sleep for a fixed time.
func await(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond) // a poll interval inside a deadline
	}
}
