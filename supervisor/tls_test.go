package supervisor_test

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"holdfast/actors/actortest"
	"holdfast/messages"
	"holdfast/upstream"
)

// TestTLSWithCustomCA: a wss:// upstream whose certificate only the configured ca_file
// vouches for is reached, and its events are routed; without the CA the dial fails.
func TestTLSWithCustomCA(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	up := websocket.Upgrader{EnableCompression: true}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"tls_event","seq":1}`))
		for { // hold the socket until the client goes
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	ca := h.path("ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := h.config(`
  [stream.tls]
  ca_file = "` + ca + `"`)
	cfg.Streams[0].URL = "wss" + strings.TrimPrefix(srv.URL, "https") + "/ws"
	cfg.Streams[0].Compression = true // permessage-deflate, offered and accepted
	h.startStream(cfg, "s1")
	h.expectState(messages.StateConnected)
	actortest.Eventually(t, "the TLS event in the file", func() bool { return len(lines(t, h.path("events.jsonl"))) == 1 })
	if got := string(lines(t, h.path("events.jsonl"))[0]["type"]); got != `"tls_event"` {
		t.Errorf("routed type %s, want tls_event", got)
	}
}

// TestTLSUnknownAuthorityFails: without the CA the certificate is refused and the stream
// backs off with an error that says why.
func TestTLSUnknownAuthorityFails(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	cfg := h.config("")
	cfg.Streams[0].URL = "wss" + strings.TrimPrefix(srv.URL, "https") + "/ws"
	h.startStream(cfg, "s1")
	st := h.expectState(messages.StateBackoff)
	if !strings.Contains(st.LastError, "certificate") {
		t.Errorf("last error %q should name the certificate problem", st.LastError)
	}
}
