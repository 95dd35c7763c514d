package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestProductionDeps checks what the production binary links: not the testing package, and
// not the benchmark harness, which has its own main (bench/cmd/holdfast-bench).
func TestProductionDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "holdfast/supervisor") {
		t.Fatalf("go list -deps lists %d packages without holdfast/supervisor; the listing is wrong", len(deps))
	}
	for _, banned := range []string{"testing", "holdfast/bench", "holdfast/actors/actortest"} {
		if slices.Contains(deps, banned) {
			t.Errorf("the daemon links %s; go list -deps ./daemon must not list it", banned)
		}
	}
}
