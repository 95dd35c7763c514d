package sinks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/natstest"
	"holdfast/wire"
)

func TestSubjectMakesTokensSafe(t *testing.T) {
	tmpl := strings.Split("holdfast.{stream}.{type}", ".")
	for _, tt := range []struct{ stream, typ, want string }{
		{"s1", "trade", "holdfast.s1.trade"},
		{"s.1", "a b>*", "holdfast.s_1.a_b__"},
		{"s1", "", "holdfast.s1._"},
		{"s1", "héllo", "holdfast.s1.h__llo"},
	} {
		if got := Subject(tmpl, tt.stream, tt.typ); got != tt.want {
			t.Errorf("Subject(%q, %q) = %q, want %q", tt.stream, tt.typ, got, tt.want)
		}
	}
	for tmpl, want := range map[string]string{
		"holdfast.{stream}.{type}": "holdfast.>",
		"{stream}.x":               ">",
		"fixed.subject":            "fixed.subject",
	} {
		if got := DefaultStreamSubject(tmpl); got != want {
			t.Errorf("DefaultStreamSubject(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

func TestMsgIDIsStableAcrossReplays(t *testing.T) {
	at1, at2 := time.Unix(1, 0), time.Unix(99, 0)
	msg := []byte(`{"type":"t","n":1}`)
	a := messages.Event{Stream: "s", Type: "t", Line: wire.AppendEnvelope(nil, "s", "t", "websocket", at1, msg)}
	b := messages.Event{Stream: "s", Type: "t", Line: wire.AppendEnvelope(nil, "s", "t", "poll", at2, msg)}
	c := messages.Event{Stream: "s", Type: "t", Line: wire.AppendEnvelope(nil, "s", "t", "websocket", at1, []byte(`{"type":"t","n":2}`))}
	if MsgID(a) != MsgID(b) {
		t.Errorf("same frame received twice: IDs %q and %q differ", MsgID(a), MsgID(b))
	}
	if MsgID(a) == MsgID(c) {
		t.Errorf("different frames share ID %q", MsgID(a))
	}
	a.Cursor = "42"
	if got := MsgID(a); got != "s/42" {
		t.Errorf("MsgID with cursor = %q, want s/42", got)
	}
}

// TestJetStreamWriteTwiceStoresOnce: a retried batch (same events again) is dropped by the
// server, and Write returns only after the acks.
func TestJetStreamWriteTwiceStoresOnce(t *testing.T) {
	ns := natstest.Start(t)
	cfg := config.DefaultSinkConfig()
	cfg.Name, cfg.Kind, cfg.URLs, cfg.CreateStream, cfg.JetStream = "js", KindNATS, []string{ns.URL()}, true, "T"
	cfg.Timeout = config.Duration{Duration: 10 * time.Second}
	s, err := New(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var evs []messages.Event
	for i := 1; i <= 50; i++ {
		cur := strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('0'+i/26))
		evs = append(evs, messages.Event{Stream: "s1", Type: "tick", Offset: uint64(i), Cursor: cur, Line: []byte(`{"i":1}`)})
	}
	ctx := context.Background()
	for range 2 {
		if err := s.Write(ctx, evs); err != nil {
			t.Fatalf("write: %v", err)
		}
		if n, err := natstest.Count(ctx, ns.URL(), "T"); err != nil || n != 50 {
			t.Fatalf("stored %d (%v), want 50 after every write", n, err)
		}
	}
	msgs, err := natstest.Stored(ctx, ns.URL(), "T")
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Subject != "holdfast.s1.tick" || msgs[0].ID != "s1/"+evs[0].Cursor {
		t.Errorf("first message %q id %q, want subject holdfast.s1.tick id s1/%s", msgs[0].Subject, msgs[0].ID, evs[0].Cursor)
	}
}

// TestJetStreamNoServerIsRetryable: without a server Write fails with a retryable error that
// names the host only.
func TestJetStreamNoServerIsRetryable(t *testing.T) {
	port, err := natstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultSinkConfig()
	cfg.Name, cfg.Kind = "js", KindNATS
	cfg.URLs = []string{"nats://user:secret@127.0.0.1:" + strings.TrimPrefix(natstest.RouteURL(port), "nats://127.0.0.1:")}
	cfg.Timeout = config.Duration{Duration: time.Second}
	s, err := New(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(context.Background(), []messages.Event{{Stream: "s", Type: "t", Cursor: "1", Line: []byte(`{}`)}})
	if err == nil || IsPermanent(err) {
		t.Fatalf("write without a server: %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

// TestJetStreamSinkCountsReconnects: the server restarts on the same port; the sink's
// connection comes back by itself, says so through OnReconnect, and publishes again.
func TestJetStreamSinkCountsReconnects(t *testing.T) {
	dir := t.TempDir()
	ns, err := natstest.Run(natstest.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port := ns.Port()
	cfg := config.DefaultSinkConfig()
	cfg.Name, cfg.Kind, cfg.URLs, cfg.CreateStream, cfg.JetStream = "js", KindNATS, []string{ns.URL()}, true, "T"
	cfg.Timeout = config.Duration{Duration: 10 * time.Second}
	s, err := New(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	reconnects := make(chan struct{}, 4)
	s.(Reconnector).OnReconnect(func() { reconnects <- struct{}{} })
	ev := []messages.Event{{Stream: "s1", Type: "t", Cursor: "1", Line: []byte(`{}`)}}
	if err := s.Write(context.Background(), ev); err != nil {
		t.Fatalf("write: %v", err)
	}
	ns.Stop()
	ns, err = natstest.Run(natstest.Options{Dir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Stop)
	select {
	case <-reconnects:
	case <-time.After(15 * time.Second):
		t.Fatal("no reconnect reported within 15s of the server's restart")
	}
	ev[0].Cursor = "2"
	if err := s.Write(context.Background(), ev); err != nil {
		t.Fatalf("write after the reconnect: %v", err)
	}
	if n, err := natstest.Count(context.Background(), ns.URL(), "T"); err != nil || n != 2 {
		t.Fatalf("stored %d (%v), want 2", n, err)
	}
}

// TestJetStreamNKeyAuth: against a server that accepts only one NKey user, a sink given that
// user's seed in nkey_file publishes; the same sink without it is refused, and neither the
// refusal nor anything the sink returns carries the seed.
func TestJetStreamNKeyAuth(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	ns, err := natstest.Run(natstest.Options{Dir: t.TempDir(), NKeys: []string{pub}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Stop)
	ev := []messages.Event{{Stream: "s1", Type: "t", Cursor: "1", Line: []byte(`{}`)}}
	newSink := func(nkeyFile string) Sink {
		cfg := config.DefaultSinkConfig()
		cfg.Name, cfg.Kind, cfg.URLs, cfg.CreateStream, cfg.JetStream = "js", KindNATS, []string{ns.URL()}, true, "T"
		cfg.NKeyFile = nkeyFile
		cfg.Timeout = config.Duration{Duration: 10 * time.Second}
		s, err := New(cfg, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	err = newSink("").Write(context.Background(), ev)
	if err == nil {
		t.Fatal("a sink without the NKey was let in; the test would prove nothing")
	}
	if err := newSink(seedFile).Write(context.Background(), ev); err != nil {
		t.Fatalf("write with the NKey: %v", err)
	}
	var stored uint64
	_, js := natstest.JetStream(t, ns.URL(), nats.Nkey(pub, func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) }))
	st, err := js.Stream(context.Background(), "T")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(context.Background()); err == nil {
		stored = info.State.Msgs
	}
	if stored != 1 {
		t.Fatalf("stream T holds %d messages, want 1", stored)
	}
	// A seed file that is not a seed: a clear error that does not echo the file.
	bad := filepath.Join(t.TempDir(), "bad.nk")
	if err := os.WriteFile(bad, []byte("SUAnotaseed-"+string(seed[12:20])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = newSink(bad).Write(context.Background(), ev)
	if err == nil || strings.Contains(err.Error(), string(seed[12:20])) {
		t.Fatalf("write with a bad seed file: %v, want an error without its content", err)
	}
}

// jsWriter builds a JetStream sink on url for stream T; adjust sets what the test is about.
func jsWriter(t *testing.T, url string, adjust func(*config.SinkConfig)) Sink {
	t.Helper()
	cfg := config.DefaultSinkConfig()
	cfg.Name, cfg.Kind, cfg.URLs, cfg.CreateStream, cfg.JetStream = "js", KindNATS, []string{url}, true, "T"
	cfg.Timeout = config.Duration{Duration: 10 * time.Second}
	adjust(&cfg)
	s, err := New(cfg, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestJetStreamCredsAuth: a server in operator (JWT) mode lets in the sink that has the
// user's credentials file, and only it; the file's secrets stay out of the errors.
func TestJetStreamCredsAuth(t *testing.T) {
	op, err := natstest.NewOperator()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natstest.Run(natstest.Options{Dir: t.TempDir(), Operator: op})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Stop)
	creds := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(creds, op.Creds, 0o600); err != nil {
		t.Fatal(err)
	}
	ev := []messages.Event{{Stream: "s1", Type: "t", Cursor: "1", Line: []byte(`{}`)}}
	err = jsWriter(t, ns.URL(), func(*config.SinkConfig) {}).Write(context.Background(), ev)
	if err == nil {
		t.Fatal("a sink without credentials was let in; the test would prove nothing")
	}
	if err := jsWriter(t, ns.URL(), func(c *config.SinkConfig) { c.CredsFile = creds }).Write(context.Background(), ev); err != nil {
		t.Fatalf("write with the credentials file: %v", err)
	}
	_, js := natstest.JetStream(t, ns.URL(), nats.UserCredentials(creds))
	st, err := js.Stream(context.Background(), "T")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream T holds %d messages, want 1", info.State.Msgs)
	}
	// A credentials file of the wrong account: refused, and the error names neither key.
	other, err := natstest.NewOperator()
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "other.creds")
	if err := os.WriteFile(wrong, other.Creds, 0o600); err != nil {
		t.Fatal(err)
	}
	err = jsWriter(t, ns.URL(), func(c *config.SinkConfig) { c.CredsFile = wrong }).Write(context.Background(), ev)
	if err == nil {
		t.Fatal("credentials of another operator were accepted")
	}
	if strings.Contains(err.Error(), "SUA") || strings.Contains(err.Error(), "eyJ") {
		t.Errorf("the error shows part of the credentials: %v", err)
	}
}

// TestJetStreamTLS: against a server that requires TLS with a certificate only the
// configured ca_file vouches for, the sink publishes; without ca_file the handshake is
// refused for an unknown authority.
func TestJetStreamTLS(t *testing.T) {
	certSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	certSrv.StartTLS() // only for its loopback certificate and key
	certs, caDER := certSrv.TLS.Certificates, certSrv.Certificate().Raw
	certSrv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	ns, err := natstest.Run(natstest.Options{Dir: t.TempDir(), TLS: &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Stop)
	if !strings.HasPrefix(ns.URL(), "tls://") {
		t.Fatalf("server URL %s: TLS not required; the test would prove nothing", ns.URL())
	}
	ev := []messages.Event{{Stream: "s1", Type: "t", Cursor: "1", Line: []byte(`{}`)}}
	err = jsWriter(t, ns.URL(), func(*config.SinkConfig) {}).Write(context.Background(), ev)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("write without ca_file: %v, want a certificate error", err)
	}
	if err := jsWriter(t, ns.URL(), func(c *config.SinkConfig) { c.TLS.CAFile = ca }).Write(context.Background(), ev); err != nil {
		t.Fatalf("write with ca_file: %v", err)
	}
	pool := x509.NewCertPool()
	cert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(cert)
	n, err := natstest.Count(context.Background(), ns.URL(), "T", nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil || n != 1 {
		t.Fatalf("stream T holds %d messages (%v), want 1", n, err)
	}
}
