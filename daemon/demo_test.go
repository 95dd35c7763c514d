package main

import (
	"encoding/json"
	"os/exec"
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
