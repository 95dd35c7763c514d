package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"holdfast/upstream"
)

func TestHelpListsEveryCommandAndFlag(t *testing.T) {
	h := newHarness(t, false)
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, errOut, code := h.cli("", args...)
		if code != exitOK || errOut != "" {
			t.Errorf("holdfast %v: exit %d, stderr %q; want 0 and nothing on stderr", args, code, errOut)
		}
		for _, c := range []string{"run", "check", "status", "send", "demo", "version", "completion", "man"} {
			if !strings.Contains(out, "\n  "+c+" ") {
				t.Errorf("holdfast %v does not list %s:\n%s", args, c, out)
			}
		}
	}
	want := map[string][]string{
		"run":    {"--config FILE"},
		"check":  {"--config FILE", "--no-environment"},
		"status": {"--config FILE", "--json", "--token-file FILE"},
		"send":   {"--config FILE", "--stream NAME", "--token-file FILE"},
		"demo":   {"--chaos", "--rate N", "(default 5)"},
	}
	for _, c := range commands {
		for _, help := range []string{"-h", "--help"} {
			out, errOut, code := h.cli("", c.name, help)
			if code != exitOK || !strings.HasPrefix(out, "usage: holdfast "+c.name) {
				t.Errorf("holdfast %s %s: exit %d, stdout %q, stderr %q; want 0 and its usage", c.name, help, code, out, errOut)
				continue
			}
			flagSet(c.name).VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, f.Usage) {
					t.Errorf("holdfast %s %s does not describe --%s:\n%s", c.name, help, f.Name, out)
				}
			})
			for _, w := range want[c.name] {
				if !strings.Contains(out, w) {
					t.Errorf("holdfast %s %s lacks %q:\n%s", c.name, help, w, out)
				}
			}
		}
	}
	if _, errOut, code := h.cli("", "check", "--no-such-flag"); code != exitUsage || !strings.Contains(errOut, "--help") {
		t.Errorf("unknown flag: exit %d, stderr %q; want 2 pointing at --help", code, errOut)
	}
}

func TestVersionCarriesBuildInfo(t *testing.T) {
	h := newHarness(t, false)
	a, _, code1 := h.cli("", "version")
	b, _, code2 := h.cli("", "--version")
	if code1 != 0 || code2 != 0 || a != b {
		t.Fatalf("version = %q (exit %d), --version = %q (exit %d); want the same, exit 0", a, code1, b, code2)
	}
	for _, w := range []string{"holdfast ", "\nrevision: ", "\nbuild date: ", "\ngo: go1."} {
		if !strings.Contains(a, w) {
			t.Errorf("version output lacks %q:\n%s", w, a)
		}
	}
	// Whatever the build info holds (go version -m reads it from the binary) is what version prints.
	info, err := exec.Command("go", "version", "-m", holdfastBin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision=") {
			if want := "revision: " + strings.TrimPrefix(f[1], "vcs.revision="); !strings.Contains(a, want) {
				t.Errorf("version output lacks %q:\n%s", want, a)
			}
		}
		if len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.time=") {
			if want := "build date: " + strings.TrimPrefix(f[1], "vcs.time="); !strings.Contains(a, want) {
				t.Errorf("version output lacks %q:\n%s", want, a)
			}
		}
	}
	if !strings.Contains(a, "\ngo: "+strings.TrimSpace(strings.Fields(string(info))[1])) {
		t.Errorf("version output lacks the Go version of the build info %q:\n%s", strings.Fields(string(info))[1], a)
	}
}

func TestCompletionAndManPageCoverEveryCommand(t *testing.T) {
	h := newHarness(t, false)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := h.cli("", "completion", shell)
		if code != exitOK {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errOut)
		}
		for _, c := range commands {
			if !strings.Contains(out, c.name) {
				t.Errorf("completion %s lacks command %s", shell, c.name)
			}
			flagSet(c.name).VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, f.Name) {
					t.Errorf("completion %s lacks --%s of %s", shell, f.Name, c.name)
				}
			})
		}
		path := filepath.Join(h.dir, "holdfast."+shell)
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		if sh, err := exec.LookPath(shell); err == nil { // syntax check where the shell is installed
			if msg, err := exec.Command(sh, "-n", path).CombinedOutput(); err != nil {
				t.Errorf("%s -n on the completion script: %v\n%s", shell, err, msg)
			}
		}
	}
	// bash: the script completes a command's flags.
	if bash, err := exec.LookPath("bash"); err == nil {
		script := `source ` + filepath.Join(h.dir, "holdfast.bash") + `
COMP_WORDS=(holdfast check --no); COMP_CWORD=2; _holdfast; echo "${COMPREPLY[@]}"
COMP_WORDS=(holdfast sta); COMP_CWORD=1; _holdfast; echo "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, "-c", script).CombinedOutput()
		if err != nil || string(out) != "--no-environment\nstatus\n" {
			t.Errorf("bash completion = %q, %v; want --no-environment, then status", out, err)
		}
	}
	out, _, code := h.cli("", "man")
	if code != exitOK || !strings.HasPrefix(out, ".TH HOLDFAST 1 ") {
		t.Fatalf("man: exit %d, output starts %q", code, out[:min(len(out), 40)])
	}
	for _, c := range commands {
		if !strings.Contains(out, `.SS "holdfast `+c.name) {
			t.Errorf("man page lacks a section for %s", c.name)
		}
		flagSet(c.name).VisitAll(func(f *flag.Flag) {
			if !strings.Contains(out, `\-\-`+roff(f.Name)) {
				t.Errorf("man page lacks --%s of %s", f.Name, c.name)
			}
		})
	}
	if groff, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(out)
		if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("groff warns about the man page: %v\n%s", err, msg)
		}
	}
}

func TestConfigPathResolution(t *testing.T) {
	h := newHarness(t, false)
	cfg := func(dir string) string {
		p := filepath.Join(dir, "config.toml")
		text := h.header(5*time.Second, "") + h.fileSink("out", "100ms") + streamDef{name: "a", url: "ws://127.0.0.1:1/ws", sink: "out"}.String()
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	here, other := filepath.Join(h.dir, "here"), filepath.Join(h.dir, "other")
	for _, d := range []string{here, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg(here)
	named := cfg(other)
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"./config.toml", nil, nil, "# config.toml is valid"},
		{"HOLDFAST_CONFIG over ./config.toml", []string{"HOLDFAST_CONFIG=" + named}, nil, "# " + named + " is valid"},
		{"--config over HOLDFAST_CONFIG", []string{"HOLDFAST_CONFIG=/nonexistent.toml"}, []string{"--config", named}, "# " + named + " is valid"},
	} {
		out, errOut, code := h.cliIn(here, tt.env, append([]string{"check", "--no-environment"}, tt.args...)...)
		if code != exitOK || !strings.HasPrefix(out, tt.want) {
			t.Errorf("%s: exit %d, stdout %.60q, stderr %q; want %q", tt.name, code, out, errOut, tt.want)
		}
	}
	if _, err := os.Stat(systemConfig); err != nil { // not on a machine where holdfast is installed
		_, errOut, code := h.cliIn(h.dir, nil, "check")
		if code != exitUsage || !strings.Contains(errOut, systemConfig) {
			t.Errorf("no config anywhere: exit %d, stderr %q; want 2 naming %s", code, errOut, systemConfig)
		}
	}
}

func TestStatusFromOperatorShellWithLoadCredential(t *testing.T) {
	h := newHarness(t, false)
	creds := filepath.Join(h.dir, "credentials") // what systemd's LoadCredential= provides the service
	if err := os.Mkdir(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	const token = "s3cret-control-token"
	if err := os.WriteFile(filepath.Join(creds, "control.token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(5*time.Second, `token_file = "control.token"`) + h.fileSink("out", "100ms") +
		streamDef{name: "a", url: up.URL(), sink: "out"}.String())
	p := h.start("CREDENTIALS_DIRECTORY=" + creds)
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	p.waitLog("holdfast started", 1)

	// The operator's shell has no CREDENTIALS_DIRECTORY: the relative token file is not found.
	_, errOut, code := h.cli("", "status", "--config", h.cfg)
	if code != exitUsage || !strings.Contains(errOut, "HOLDFAST_CONTROL_TOKEN") || strings.Contains(errOut, token) {
		t.Errorf("status without a token: exit %d, stderr %q; want 2 suggesting HOLDFAST_CONTROL_TOKEN", code, errOut)
	}
	out, errOut, code := h.cliIn(h.dir, []string{"HOLDFAST_CONTROL_TOKEN=" + token}, "status", "--config", h.cfg)
	if code != exitOK || !strings.Contains(out, "\na ") {
		t.Errorf("status with HOLDFAST_CONTROL_TOKEN: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = h.cli("", "status", "--config", h.cfg, "--token-file", filepath.Join(creds, "control.token"))
	if code != exitOK || !strings.Contains(out, "\na ") {
		t.Errorf("status --token-file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = h.cliIn(h.dir, []string{"HOLDFAST_CONTROL_TOKEN=" + token}, "send", "--config", h.cfg, "--stream", "a", `{"type":"hello"}`)
	if code != exitOK || !strings.Contains(out, "accepted 1") {
		t.Errorf("send with HOLDFAST_CONTROL_TOKEN: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = h.cliIn(h.dir, []string{"HOLDFAST_CONTROL_TOKEN=wrong"}, "status", "--config", h.cfg)
	if code == exitOK || !strings.Contains(errOut, "401") {
		t.Errorf("status with a wrong token: exit %d, stderr %q; want a failure naming the 401", code, errOut)
	}
}
