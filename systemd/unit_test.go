// Package systemd_test checks holdfast.service with systemd-analyze, which the Debian and
// Ubuntu package "systemd" provides. Without it on PATH these tests skip, so CI must install it.
package systemd_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	unitFile = "holdfast.service"
	// maxExposure is the highest acceptable "Overall exposure level" (0 best, 10 worst).
	maxExposure = 2.0
	binary      = "/usr/local/bin/holdfast"
)

// analyze runs systemd-analyze with args and returns its combined output and error.
func analyze(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not on PATH (install the \"systemd\" package): holdfast.service not checked")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestUnitSecurityExposure(t *testing.T) {
	// --threshold is the exposure times ten: the command fails above 2.0.
	threshold := "--threshold=" + strconv.Itoa(int(maxExposure*10))
	out, err := analyze(t, "security", "--offline=yes", threshold, unitFile)
	m := regexp.MustCompile(`Overall exposure level for holdfast\.service: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security %s: no exposure level in output (err: %v):\n%s", threshold, err, out)
	}
	got, perr := strconv.ParseFloat(m[1], 64)
	if perr != nil {
		t.Fatalf("parse exposure %q: %v", m[1], perr)
	}
	if got > maxExposure || err != nil {
		t.Errorf("exposure %.1f (err: %v), want at most %.1f:\n%s", got, err, maxExposure, out)
	}
	t.Logf("exposure %.1f", got)
}

func TestUnitVerifies(t *testing.T) {
	abs, err := filepath.Abs(unitFile)
	if err != nil {
		t.Fatalf("abs %s: %v", unitFile, err)
	}
	out, _ := analyze(t, "verify", "--man=no", abs)
	// verify prints unknown keys and bad values as warnings and still exits 0, so read the
	// output. The one complaint a real install cannot hit is this machine lacking the binary.
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" || strings.Contains(line, "Command "+binary+" is not executable") {
			continue
		}
		problems = append(problems, line)
	}
	if len(problems) > 0 {
		t.Errorf("systemd-analyze verify %s:\n%s", unitFile, strings.Join(problems, "\n"))
	}
}
