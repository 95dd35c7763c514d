package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoShowsEventsWithinFiveSeconds runs the README's first command the way a newcomer
// does (the built binary, `demo`), and expects routed events on stdout within 5 s and a
// clean exit on SIGTERM.
func TestDemoShowsEventsWithinFiveSeconds(t *testing.T) {
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(holdfastBin, "demo")
	p.cmd.Dir, p.cmd.Env = t.TempDir(), childEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start demo: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("demo stderr:\n%s", tail(p.stderr.String(), 40))
		}
	})
	deadline := start.Add(5 * time.Second)
	for !strings.Contains(p.stdout.String(), "\n") {
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("no event on stdout within 5s (exited: %v)", p.exited())
		}
		<-time.After(pollEvery)
	}
	t.Logf("first event after %v", time.Since(start).Round(time.Millisecond))
	first := strings.SplitN(p.stdout.String(), "\n", 2)[0]
	var env struct {
		Stream, Type, Via string
		Message           json.RawMessage
	}
	if err := json.Unmarshal([]byte(first), &env); err != nil || env.Stream != "demo" || !strings.HasPrefix(env.Type, "processing_") || env.Via != "websocket" {
		t.Fatalf("first stdout line is not a routed demo event: %q (%v)", first, err)
	}
	p.signal(syscall.SIGTERM)
	if st := p.wait(10 * time.Second); !st.Success() {
		t.Errorf("demo exited with %v after SIGTERM, want 0", st)
	}
}

// TestDemoClusterFailsOverExactlyOnce runs `holdfast demo --cluster` as a newcomer would:
// the second instance ends up running all four feeds after the first stops, and the demo's
// own check finds every event in JetStream exactly once.
func TestDemoClusterFailsOverExactlyOnce(t *testing.T) {
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(holdfastBin, "demo", "--cluster", "--stop-after", "2s", "--duration", "9s", "--rate", "20")
	p.cmd.Dir, p.cmd.Env = t.TempDir(), childEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start demo: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("demo stdout:\n%s\nstderr:\n%s", p.stdout.String(), tail(p.stderr.String(), 40))
		}
	})
	if st := p.wait(60 * time.Second); !st.Success() {
		t.Fatalf("demo --cluster exited with %v", st)
	}
	out := p.stdout.String()
	if !strings.Contains(out, "demo-b: feed-1,feed-2,feed-3,feed-4") {
		t.Errorf("demo-b never ran all four feeds:\n%s", out)
	}
	if m := regexp.MustCompile(`demo-a stopped gracefully: (\d+) leases released`).FindStringSubmatch(out); m == nil || m[1] == "0" {
		t.Errorf("demo-a released no lease at its graceful stop:\n%s", out)
	}
	if !strings.Contains(out, "is in JetStream exactly once") {
		t.Errorf("no exactly-once verdict:\n%s", out)
	}
}
