package upstream_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"holdfast/upstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const readWait = 30 * time.Second // generous deadline for frames that must arrive (CI: 2 loaded cores, -race)

var dialer = websocket.Dialer{HandshakeTimeout: 5 * time.Second}

// dial connects to url and closes the client in t.Cleanup.
func dial(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	ws, resp, err := dialer.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, status(resp))
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func status(resp *http.Response) any {
	if resp == nil {
		return nil
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func writeJSON(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	if err := ws.WriteJSON(v); err != nil {
		t.Fatalf("write %v: %v", v, err)
	}
}

// subscribe sends a subscribe (with since when >= 0) and waits until the server has
// processed it.
func subscribe(t *testing.T, s *upstream.Server, ws *websocket.Conn, since int) {
	t.Helper()
	n := len(s.Subscriptions())
	msg := map[string]any{"type": "subscribe", "channel": "processing"}
	if since >= 0 {
		msg["since"] = since
	}
	writeJSON(t, ws, msg)
	s.Await(t, "subscription", func() bool { return len(s.Subscriptions()) > n })
}

// read returns the next frame as a JSON object.
func read(t *testing.T, ws *websocket.Conn) map[string]any {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(readWait))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return m
}

// readErr reads until the connection fails and returns the error.
func readErr(t *testing.T, ws *websocket.Conn, wait time.Duration) error {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func seqOf(t *testing.T, m map[string]any) uint64 {
	t.Helper()
	f, ok := m["seq"].(float64)
	if !ok {
		t.Fatalf("event without seq: %v", m)
	}
	return uint64(f)
}

// closeCode is the close code in err, or 0.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
