// Package packaging holds the release build (build), the Debian package definition
// (nfpm.yaml) and the production config template; its test builds the package.
package packaging

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build runs packaging/build --deb into a fresh directory and returns it.
func build(t *testing.T, version string) string {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command("./build", "--deb")
	cmd.Env = append(os.Environ(), "OUT="+out, "VERSION="+version)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("packaging/build --deb: %v\n%s", err, msg)
	}
	return out
}

func sum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func TestReleaseBuildAndDebianPackage(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatalf("dpkg-deb is needed to inspect the package (Debian package dpkg): %v", err)
	}
	const version = "1.2.3"
	a, b := build(t, version), build(t, version)
	deb := "holdfast_" + version + "_" + goarch(t) + ".deb"

	// Reproducible: two builds of the same tree give the same bytes.
	for _, f := range []string{"holdfast", "holdfast.1.gz", deb} {
		if sa, sb := sum(t, filepath.Join(a, f)), sum(t, filepath.Join(b, f)); sa != sb {
			t.Errorf("%s differs between two builds: %s, %s", f, sa, sb)
		}
	}

	info, err := exec.Command("dpkg-deb", "--info", filepath.Join(a, deb)).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
	}
	for _, want := range []string{"Package: holdfast", "Version: " + version, "Architecture: " + goarch(t)} {
		if !bytes.Contains(info, []byte(want)) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents, err := exec.Command("dpkg-deb", "--contents", filepath.Join(a, deb)).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v\n%s", err, contents)
	}
	for _, want := range []string{"./usr/bin/holdfast", "./lib/systemd/system/holdfast.service", "./etc/holdfast/config.toml",
		"./usr/share/man/man1/holdfast.1.gz", "./usr/share/doc/holdfast/copyright",
		"./usr/share/bash-completion/completions/holdfast", "./usr/share/zsh/vendor-completions/_holdfast",
		"./usr/share/fish/vendor_completions.d/holdfast.fish"} {
		if !bytes.Contains(contents, []byte(" "+want+"\n")) {
			t.Errorf("the package lacks %s:\n%s", want, contents)
		}
	}
	conffiles, err := exec.Command("dpkg-deb", "--info", filepath.Join(a, deb), "conffiles").CombinedOutput()
	if err != nil || strings.TrimSpace(string(conffiles)) != "/etc/holdfast/config.toml" {
		t.Errorf("conffiles = %q, %v; want the config template kept on upgrade", conffiles, err)
	}

	// What is inside works: the binary is static and stamped, the unit starts it from
	// /usr/bin, and the config template passes check.
	root := t.TempDir()
	if msg, err := exec.Command("dpkg-deb", "-x", filepath.Join(a, deb), root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, msg)
	}
	bin := filepath.Join(root, "usr/bin/holdfast")
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "holdfast "+version+"\n") || strings.Contains(string(out), "revision: unknown") {
		t.Errorf("packaged holdfast version = %q, %v; want %s with its revision", out, err, version)
	}
	if rev, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil && !strings.Contains(string(out), strings.TrimSpace(string(rev))) {
		t.Errorf("packaged version %q lacks the commit %s", out, rev)
	}
	if gv, err := exec.Command("go", "version", "-m", bin).Output(); err != nil || !strings.Contains(string(gv), "CGO_ENABLED=0") || !strings.Contains(string(gv), "-trimpath=true") {
		t.Errorf("go version -m on the packaged binary = %s, %v; want CGO_ENABLED=0 and -trimpath", gv, err)
	}
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/holdfast.service"))
	if err != nil || !bytes.Contains(unit, []byte("ExecStart=/usr/bin/holdfast run --config /etc/holdfast/config.toml")) {
		t.Errorf("packaged unit: %v; want ExecStart from /usr/bin:\n%s", err, unit)
	}
	out, err = exec.Command(bin, "check", "--no-environment", "--config", filepath.Join(root, "etc/holdfast/config.toml")).CombinedOutput()
	if err != nil {
		t.Errorf("check of the packaged config template: %v\n%s", err, out)
	}
	man, err := exec.Command("sh", "-c", "gzip -dc "+filepath.Join(root, "usr/share/man/man1/holdfast.1.gz")).Output()
	if err != nil || !bytes.HasPrefix(man, []byte(".TH HOLDFAST 1 ")) {
		t.Errorf("packaged man page starts %.40q, %v", man, err)
	}
}

func goarch(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
