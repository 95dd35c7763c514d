package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"holdfast/bench"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

// TestBenchBinary builds the entry point BENCHMARKS.md documents and runs one short mode the
// way a user does: the parent hosts the upstream and re-executes itself as the child.
func TestBenchBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "holdfast-bench")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	jsonPath := filepath.Join(t.TempDir(), "idle.json")
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--modes", "idle", "--idle-wait", "100ms", "--dir", t.TempDir(), "--json", jsonPath)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("holdfast-bench --modes idle: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "idle, 1 stream") {
		t.Errorf("stdout = %q, want the idle table", stdout.String())
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("--json output: %v", err)
	}
	if rep.Idle == nil || rep.Idle.RSSMiB <= 0 || rep.Idle.Goroutines <= 0 {
		t.Errorf("idle result = %+v, want measured RSS and goroutines from the child", rep.Idle)
	}

	bad := exec.CommandContext(ctx, bin, "--modes", "nope")
	if err := bad.Run(); err == nil || bad.ProcessState.ExitCode() != 2 {
		t.Errorf("--modes nope: err %v, want exit status 2", err)
	}
}
