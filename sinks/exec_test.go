package sinks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/testsupport"
)

// script writes an executable /bin/sh script into a temp dir and returns its path and the dir.
func script(t *testing.T, body string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// waitFor polls cond until it holds or 30s pass (generous: CI runs on two loaded cores).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsupport.Eventually(t, what, 30*time.Second, cond)
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

func execSink(t *testing.T, cfg config.SinkConfig) Sink {
	t.Helper()
	cfg.Name, cfg.Kind = "hook", KindExec
	s, err := New(cfg, nil, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestPerEventStdinAndEnv(t *testing.T) {
	path, dir := script(t, `cat > "$1/stdin"; printf '%s|%s|%s' "$HOLDFAST_STREAM" "$HOLDFAST_TYPE" "$HOLDFAST_OFFSET" > "$1/env"`)
	s := execSink(t, config.SinkConfig{Command: []string{path, dir}})
	ev := messages.Event{Stream: "feed", Type: "trade", Offset: 42, Line: []byte(`{"type":"trade","message":{}}`)}
	if err := s.Write(context.Background(), []messages.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, filepath.Join(dir, "stdin")), string(ev.Line)+"\n"; got != want {
		t.Errorf("stdin: got %q, want %q", got, want)
	}
	if got, want := readFile(t, filepath.Join(dir, "env")), "feed|trade|42"; got != want {
		t.Errorf("env: got %q, want %q", got, want)
	}
}

func TestPerEventFailures(t *testing.T) {
	fail, _ := script(t, `echo "cannot reach db" >&2; exit 3`)
	for _, tt := range []struct {
		name      string
		argv      []string
		permanent bool
		contains  []string
	}{
		{"exit 3 is retryable and quotes stderr", []string{fail}, false, []string{"exit status 3", "cannot reach db"}},
		{"missing command is permanent", []string{"/nonexistent/hook"}, true, []string{"start hook"}},
		{"command not on PATH is permanent", []string{"holdfast-no-such-command"}, true, []string{"executable file not found"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := execSink(t, config.SinkConfig{Command: tt.argv})
			err := s.Write(context.Background(), events("{}"))
			if err == nil {
				t.Fatalf("%v: got nil, want error", tt.argv)
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("%v: IsPermanent(%v) = %v, want %v", tt.argv, err, !tt.permanent, tt.permanent)
			}
			for _, c := range tt.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("%v: error %q lacks %q", tt.argv, err, c)
				}
			}
		})
	}
}

func TestPerEventTimeoutKillsProcessGroup(t *testing.T) {
	path, dir := script(t, `sleep 60 & echo $! > "$1/child"; sleep 60`)
	s := execSink(t, config.SinkConfig{Command: []string{path, dir}, Timeout: config.Duration{Duration: 300 * time.Millisecond}})
	err := s.Write(context.Background(), events("{}"))
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") || IsPermanent(err) {
		t.Fatalf("got %v, want a retryable timeout", err)
	}
	child := readPID(t, filepath.Join(dir, "child"))
	waitFor(t, "the backgrounded grandchild to die", func() bool { return testsupport.ProcessGone(child) })
}

func TestPerEventCancelled(t *testing.T) {
	path, dir := script(t, `touch "$1/ran"`)
	s := execSink(t, config.SinkConfig{Command: []string{path, dir}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, events("{}")); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the command ran under a cancelled context")
	}
}

func TestPipeRestartsAfterKill(t *testing.T) {
	path, dir := script(t, `echo $$ > "$1/pid.$$"; ln -sf "pid.$$" "$1/pid"; exec cat >> "$1/out"`)
	s := execSink(t, config.SinkConfig{Command: []string{path, dir}, Mode: ModePipe})
	ctx, out := context.Background(), filepath.Join(dir, "out")
	if err := s.Write(ctx, events("one", "two")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two lines", func() bool { b, _ := os.ReadFile(out); return string(b) == "one\ntwo\n" })
	first := readPID(t, filepath.Join(dir, "pid"))
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p := s.(*pipe)
	waitFor(t, "the process to be reaped", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		select {
		case <-p.exited:
			return true
		default:
			return false
		}
	})
	err := s.Write(ctx, events("three"))
	if err == nil || !strings.Contains(err.Error(), "process exited: signal: killed") {
		t.Fatalf("Write after the kill: got %v, want process exited", err)
	}
	if err := s.Write(ctx, events("three")); err != nil { // the retry starts a new process
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // cat exits 0 when stdin closes
		t.Fatal(err)
	}
	if got, want := readFile(t, out), "one\ntwo\nthree\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if second := readPID(t, filepath.Join(dir, "pid")); second == first {
		t.Errorf("pid %d: no new process was started", second)
	}
}

func TestPipeStuckProcess(t *testing.T) {
	path, dir := script(t, `echo $$ > "$1/pid"; trap '' TERM; exec sleep 60`) // never reads stdin
	s := execSink(t, config.SinkConfig{Command: []string{path, dir}, Mode: ModePipe,
		Timeout: config.Duration{Duration: 200 * time.Millisecond}})
	big := strings.Repeat("x", 256<<10) // more than a pipe holds
	err := s.Write(context.Background(), events(big))
	if err == nil || !strings.Contains(err.Error(), "no progress in 200ms") {
		t.Fatalf("got %v, want a write timeout", err)
	}
	if pid := readPID(t, filepath.Join(dir, "pid")); !testsupport.ProcessGone(pid) {
		t.Errorf("pid %d still running after a failed write", pid)
	}

	// Close gives a process that ignores EOF its grace, then kills it.
	if err := s.Write(context.Background(), events("small")); err != nil {
		t.Fatal(err)
	}
	s.(*pipe).grace = 100 * time.Millisecond
	if err := s.Close(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Close: got %v, want killed", err)
	}
}
