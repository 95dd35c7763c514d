package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"

	"holdfast/natstest"
	"holdfast/upstream"
)

// TestNATSSinkTokenAuthKeepsTheTokenSecret: against a NATS server that accepts only one
// token, a nats sink given that token in token_file delivers every event to JetStream; the
// token appears nowhere in the daemon's debug log, /v1/streams, `holdfast status` or /metrics.
func TestNATSSinkTokenAuthKeepsTheTokenSecret(t *testing.T) {
	const token = "nats-token-5f2e9c7a41"
	ns, err := natstest.Run(natstest.Options{Dir: t.TempDir(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Stop)
	if nc, err := nats.Connect(ns.URL()); err == nil {
		nc.Close()
		t.Fatal("the server accepts a client without the token; the test would prove nothing")
	}
	up := upstream.NewTest(t, upstream.Options{})
	h := newHarness(t, false)
	tokenFile := filepath.Join(h.dir, "nats.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(h.header(exitTimeout/2, ""), `log_level = "info"`, `log_level = "debug"`, 1) +
		fmt.Sprintf(`
[[sink]]
name = "js"
kind = "nats"
urls = [%q]
jetstream = "EVENTS"
create_stream = true
token_file = %q
`, ns.URL(), tokenFile) + streamDef{name: "a", url: up.URL(), sink: "js",
		tables: "[stream.cursor]\nfield = \"seq\"\nsubscribe_key = \"since\"\ncheckpoint_interval = \"50ms\""}.String()
	h.write(cfg)
	p := h.start()
	p.waitFor("stream a connected", func() bool { return len(runningHere(h)) == 1 })
	awaitUp(t, up, "a subscription", func() bool { return up.Subscribed() == 1 })
	for range 20 {
		up.Publish("tick", nil)
	}
	p.waitFor("JetStream holds the 20 events", func() bool {
		n, err := natstest.Count(context.Background(), strings.Replace(ns.URL(), "nats://", "nats://"+token+"@", 1), "EVENTS")
		return err == nil && n == 20
	})

	var seen []string
	_, body := h.call(http.MethodGet, "/v1/streams", "", "", "")
	seen = append(seen, "/v1/streams: "+body)
	if !strings.Contains(body, `"js"`) {
		t.Errorf("/v1/streams does not show the sink: %s", body)
	}
	_, body = h.call(http.MethodGet, "/metrics", "", "", "")
	seen = append(seen, "/metrics: "+body)
	out, stderr, code := h.cli("", "status", "--config", h.cfg)
	if code != 0 {
		t.Errorf("status: exit %d, stderr %q", code, stderr)
	}
	seen = append(seen, "status: "+out+stderr)
	p.signal(syscall.SIGTERM)
	p.wait(exitTimeout)
	seen = append(seen, "log: "+p.stderr.String()+p.stdout.String())
	for _, s := range seen {
		if strings.Contains(s, token) {
			where, _, _ := strings.Cut(s, ":")
			t.Errorf("the NATS token appears in %s", where)
		}
	}
	if !strings.Contains(p.stderr.String(), `"level":"debug"`) {
		t.Error("no debug line in the log; the check would miss what debug logging prints")
	}
}
