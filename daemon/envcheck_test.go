package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheckAndRunCatchWhatFailsAtRunTime(t *testing.T) {
	h := newHarness(t, false)
	blocker := filepath.Join(h.dir, "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`
[daemon]
state_dir = %q

[control]
listen = %q

[[sink]]
name = "out"
kind = "file"
path = %q

[[sink]]
name = "run"
kind = "exec"
command = [%q]

[[sink]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:1/in"
token_env = "HOLDFAST_TEST_NEVER_SET"

[[stream]]
name = "a"
url = "wss://127.0.0.1:1/ws"
[stream.tls]
ca_file = %q
[[stream.route]]
type = "*"
sinks = ["out", "run", "hook"]
`, filepath.Join(blocker, "state"), h.listen, filepath.Join(h.dir, "no-such-dir", "out.jsonl"),
		filepath.Join(h.dir, "no-such-handler"), filepath.Join(h.dir, "no-such-ca.pem"))
	h.write(text)
	wants := []string{
		`daemon.state_dir: create ` + filepath.Join(blocker, "state") + `: not a directory`,
		`sink "out" path: directory ` + filepath.Join(h.dir, "no-such-dir") + `: no such file or directory`,
		`sink "run" command: ` + filepath.Join(h.dir, "no-such-handler") + `: no such file or directory`,
		`sink "hook" token: read token: no token: environment variable HOLDFAST_TEST_NEVER_SET is unset or empty`,
		`stream "a" tls.ca_file: ` + filepath.Join(h.dir, "no-such-ca.pem") + `: no such file or directory`,
	}

	out, errOut, code := h.cli("", "check", "--config", h.cfg)
	if code != exitUsage {
		t.Fatalf("check exit %d, want 2; stdout %s stderr %s", code, out, errOut)
	}
	for _, w := range wants {
		if !strings.Contains(errOut, w) {
			t.Errorf("check stderr lacks %q:\n%s", w, errOut)
		}
	}
	if _, errOut, code := h.cli("", "check", "--no-environment", "--config", h.cfg); code != exitOK {
		t.Errorf("check --no-environment exit %d, want 0: %s", code, errOut)
	}

	// run refuses before READY, with the same reasons, and never opens the control socket.
	start := time.Now()
	p := h.start()
	st := p.wait(exitTimeout)
	if st.ExitCode() != exitUsage {
		t.Fatalf("run exit = %v, want 2", st)
	}
	for _, w := range wants {
		if !strings.Contains(p.stderr.String(), w) {
			t.Errorf("run stderr lacks %q:\n%s", w, p.stderr.String())
		}
	}
	if _, err := os.Stat(strings.TrimPrefix(h.listen, "unix:")); err == nil {
		t.Errorf("run opened the control socket although the environment check failed")
	}
	t.Logf("run refused in %v", time.Since(start).Round(time.Millisecond))

	// Fixed, the same config checks clean.
	if err := os.Mkdir(filepath.Join(h.dir, "no-such-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, errOut, _ = h.cli("", "check", "--config", h.cfg)
	if strings.Contains(errOut, `sink "out"`) {
		t.Errorf("check still names sink out after its directory was made: %s", errOut)
	}
}

func TestCheckRejectsAbsurdValues(t *testing.T) {
	h := newHarness(t, false)
	h.write(h.header(5*time.Second, "") + `
[[sink]]
name = "run"
kind = "exec"
command = ["/bin/cat"]
concurrency = 100000000
` + streamDef{name: "a", url: "ws://127.0.0.1:1/ws", sink: "run"}.String())
	_, errOut, code := h.cli("", "check", "--config", h.cfg)
	if code != exitUsage || !strings.Contains(errOut, `sink "run" concurrency: must be between 1 and 1024, got 100000000`) {
		t.Errorf("check = exit %d %q, want 2 naming concurrency", code, errOut)
	}
}
