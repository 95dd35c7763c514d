package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"holdfast/control"
	"holdfast/upstream"
)

func TestExecChildrenGetAMinimalEnvironment(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{Token: "stream-token-7c1e"})
	perEvent, pipe := filepath.Join(h.dir, "per_event.env"), filepath.Join(h.dir, "pipe.env")
	h.write(h.header(5*time.Second, `token_env = "HOLDFAST_CONTROL_TOKEN"`) + fmt.Sprintf(`
[[sink]]
name = "each"
kind = "exec"
command = ["/bin/sh", "-c", "env > %s"]
env = { HANDLER_MODE = "strict" }
pass_env = ["HF_TEST_PASSED", "HF_TEST_NEVER_SET"]

[[sink]]
name = "piped"
kind = "exec"
mode = "pipe"
command = ["/bin/sh", "-c", "env > %s; cat > /dev/null"]
pass_env = ["HF_TEST_PASSED"]
`, perEvent, pipe) + strings.Replace(streamDef{name: "a", url: up.URL(), sink: "each",
		tables: "[stream.auth]\nmode = \"message\"\ntoken_env = \"HF_TEST_STREAM_TOKEN\""}.String(),
		`sinks = ["each"]`, `sinks = ["each", "piped"]`, 1))
	p := h.start("HOLDFAST_CONTROL_TOKEN=control-token-93ab", "HF_TEST_STREAM_TOKEN=stream-token-7c1e",
		"HF_TEST_PASSED=yes", "HF_TEST_OTHER=daemon-only")
	h.token = "control-token-93ab"
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	up.Publish("order", map[string]any{"n": 1})
	for _, f := range []string{perEvent, pipe} {
		var env string
		p.waitFor(f, func() bool {
			b, err := os.ReadFile(f)
			env = string(b)
			return err == nil && strings.Contains(env, "PATH=")
		})
		for _, secret := range []string{"control-token-93ab", "stream-token-7c1e", "daemon-only", "HF_TEST_NEVER_SET"} {
			if strings.Contains(env, secret) {
				t.Errorf("%s: the child's environment holds %q:\n%s", filepath.Base(f), secret, env)
			}
		}
		for _, want := range []string{"\nHF_TEST_PASSED=yes\n", "PATH="} {
			if !strings.Contains("\n"+env, want) {
				t.Errorf("%s: the child's environment lacks %q:\n%s", filepath.Base(f), want, env)
			}
		}
	}
	b, _ := os.ReadFile(perEvent)
	for _, want := range []string{"HANDLER_MODE=strict", "HOLDFAST_STREAM=a", "HOLDFAST_TYPE=order", "HOLDFAST_OFFSET=1"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("per_event child's environment lacks %s:\n%s", want, b)
		}
	}
}

func TestUpstreamControlCharactersNeverReachTheTerminal(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") + streamDef{name: "a", url: up.URL(), sink: "out"}.String())
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	up.CloseConnections(4000, "bye\x1b[2J\x1b]0;owned\x07")
	var row control.StreamStatus
	p.waitFor("the close reason in status", func() bool {
		var ok bool
		row, ok = h.stream("a")
		return ok && strings.Contains(row.LastError, "bye")
	})
	if strings.ContainsAny(row.LastError, "\x1b\x07") || !strings.Contains(row.LastError, `bye\x1b[2J\x1b]0;owned\x07`) {
		t.Errorf("status last_error = %q, want the control characters escaped", row.LastError)
	}
	out, _, _ := h.cli("", "status", "--config", h.cfg)
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("holdfast status printed raw control characters:\n%q", out)
	}
	if strings.ContainsAny(p.stderr.String(), "\x1b\x07") {
		t.Errorf("the log holds raw control characters")
	}

	// The same log: millisecond timestamps, durations with their unit, one line per happening.
	p.waitLog("reconnect scheduled", 1)
	for _, l := range p.logs() {
		ts, _ := l["time"].(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", ts); err != nil {
			t.Errorf("log time %q has no milliseconds: %v", ts, err)
		}
		if l["message"] == "reconnect scheduled" {
			if d, ok := l["retry_in"].(string); !ok || !strings.HasSuffix(d, "ms") {
				t.Errorf("retry_in = %#v, want a duration with its unit, like \"50ms\"", l["retry_in"])
			}
		}
	}
	if n := p.logged("control api listening"); n != 1 {
		t.Errorf("control api listening logged %d times, want 1", n)
	}
}

func TestLogsNameAuthReasonAndDialErrorsOnce(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{Token: "right-token"})
	dead := "ws://" + freeAddr(t) + "/ws"
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
		streamDef{name: "a", url: up.URL(), sink: "out",
			tables: "[stream.auth]\nmode = \"message\"\ntoken_env = \"HF_TEST_TOKEN\""}.String() +
		streamDef{name: "b", url: dead, sink: "out"}.String())
	p := h.start("HF_TEST_TOKEN=wrong-token")
	p.waitLog("authentication rejected", 1)
	p.waitLog("reconnect scheduled", 1)
	for _, l := range p.logs() {
		msg, _ := l["message"].(string)
		errText, _ := l["error"].(string)
		if msg == "authentication rejected; retrying at max_delay" && !strings.Contains(errText, "upstream refused the token: invalid token") {
			t.Errorf("auth rejection logged as %q, want the upstream's reason after the colon", errText)
		}
		if strings.Contains(errText, "wrong-token") {
			t.Errorf("a log line holds the token: %v", l)
		}
		if l["stream"] == "b" && msg == "reconnect scheduled" && strings.Count(errText, "dial") != 1 {
			t.Errorf("dial error %q says dial more than once", errText)
		}
	}
}
