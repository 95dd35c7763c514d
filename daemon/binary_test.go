package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/control"
	"holdfast/upstream"
)

// buildFlags are extra `go build` flags for the daemon binary; binary_race_test.go adds -race
// so that a race in the daemon fails these tests too.
var buildFlags []string

// holdfastBin is the daemon binary TestMain builds once for every test.
var holdfastBin string

// Deadlines of the binary tests. The binary may be built with -race, which slows it down,
// and CI runs it on two cores next to the rest of the suite. Each wait returns as soon as its
// condition holds, so these bounds cost nothing when a test passes: they are generous.
const (
	startTimeout = 60 * time.Second // daemon connected, or a condition on a running daemon
	exitTimeout  = 30 * time.Second // process gone after a signal
	cliTimeout   = 20 * time.Second // one `holdfast send/status/check` run
	pollEvery    = 20 * time.Millisecond
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "holdfast-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	holdfastBin = filepath.Join(dir, "holdfast")
	args := append(append([]string{"build"}, buildFlags...), "-o", holdfastBin, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// ---------------------------------------------------------------------------------------
// Harness: a temp dir, a config file in it, the daemon process and a control API client.
// ---------------------------------------------------------------------------------------

// harness is one test's directory, config file and control address.
type harness struct {
	t      *testing.T
	dir    string
	cfg    string        // config file path
	listen string        // control.listen
	token  config.Secret // control token; "" = none
	bin    string        // the daemon binary; "" = holdfastBin
}

// newHarness makes a temp dir with the control API on a unix socket there, or on 127.0.0.1
// with a free port when tcp is set.
func newHarness(t *testing.T, tcp bool) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, cfg: filepath.Join(dir, "holdfast.toml")}
	if tcp {
		h.listen = freeAddr(t)
	} else {
		sock := filepath.Join(dir, "control.sock")
		if len(sock) > 100 { // sun_path holds 108 bytes
			short, err := os.MkdirTemp("", "hf")
			if err != nil {
				t.Fatalf("temp dir: %v", err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(short) })
			sock = filepath.Join(short, "control.sock")
		}
		h.listen = "unix:" + sock
	}
	return h
}

// freeAddr returns a 127.0.0.1 port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// streamDef is one [[stream]] of a generated config.
type streamDef struct {
	name      string
	url       string
	sink      string // the route "*" goes here
	reconnect string // extra lines in [stream.reconnect]
	tables    string // extra tables, e.g. "[stream.queue]\ndurable = true"
}

// header is [daemon] and [control] of every generated config; extraControl goes into
// [control].
func (h *harness) header(shutdown time.Duration, extraControl string) string {
	return fmt.Sprintf(`[daemon]
log_level = "info"
log_format = "auto"
state_dir = %q
shutdown_timeout = %q

[control]
listen = %q
%s
`, filepath.Join(h.dir, "state"), shutdown.String(), h.listen, extraControl)
}

// fileSink is a [[sink]] of kind file writing to dir/name.jsonl.
func (h *harness) fileSink(name, flush string) string {
	return fmt.Sprintf(`
[[sink]]
name = %q
kind = "file"
path = %q
flush_interval = %q
`, name, h.sinkPath(name), flush)
}

func (h *harness) sinkPath(name string) string { return filepath.Join(h.dir, name+".jsonl") }

func (s streamDef) String() string {
	return fmt.Sprintf(`
[[stream]]
name = %q
url = %q

[[stream.subscribe]]
message = { type = "subscribe", channel = %q }

[[stream.route]]
type = "*"
sinks = [%q]

[stream.reconnect]
initial_delay = "50ms"
max_delay = "250ms"
jitter = "none"
%s
%s
`, s.name, s.url, s.name, s.sink, s.reconnect, s.tables)
}

// write replaces the config file atomically, so a reload never reads half of it.
func (h *harness) write(text string) {
	h.t.Helper()
	tmp := h.cfg + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		h.t.Fatalf("write config: %v", err)
	}
	if err := os.Rename(tmp, h.cfg); err != nil {
		h.t.Fatalf("write config: %v", err)
	}
}

// childEnv is the test's environment without anything that changes the daemon's behaviour.
func childEnv(extra ...string) []string {
	// A -race binary sleeps 1s at exit by default; every CLI run would pay it.
	env := []string{"GORACE=atexit_sleep_ms=0"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "NOTIFY_SOCKET", strings.HasPrefix(k, "WATCHDOG_"), strings.HasPrefix(k, "LISTEN_"),
			k == "CREDENTIALS_DIRECTORY", strings.HasPrefix(k, "HOLDFAST_"):
			continue
		case k == "GORACE":
			env[0] += " " + kv[len("GORACE="):] // the caller's options win
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// cli runs one holdfast command to completion in the harness directory and returns its
// output and exit code.
func (h *harness) cli(stdin string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	return h.runCLI(h.dir, nil, stdin, args...)
}

// cliIn runs one holdfast command in dir with extra environment variables.
func (h *harness) cliIn(dir string, env []string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	return h.runCLI(dir, env, "", args...)
}

// runCLI is the one place a holdfast command is run to completion; a data race the
// binary reports fails the test.
func (h *harness) runCLI(dir string, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, holdfastBin, args...)
	cmd.Dir, cmd.Env = dir, childEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		h.t.Fatalf("holdfast %s: %v\nstderr: %s", strings.Join(args, " "), err, errb.String())
	}
	if strings.Contains(errb.String(), "DATA RACE") {
		h.t.Errorf("holdfast %s reported a data race:\n%s", strings.Join(args, " "), errb.String())
	}
	return out.String(), errb.String(), code
}

// client is an in-process control API client for polling status.
func (h *harness) client() *control.Client {
	h.t.Helper()
	c, err := control.NewClient(config.ControlConfig{Listen: h.listen}, h.token)
	if err != nil {
		h.t.Fatalf("control client: %v", err)
	}
	return c
}

// stream returns one stream's row from GET /v1/streams; ok is false when the API does not
// answer (yet) or has no such stream.
func (h *harness) stream(name string) (control.StreamStatus, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := h.client().Status(ctx)
	if err != nil {
		return control.StreamStatus{}, false
	}
	for _, s := range st.Streams {
		if s.Name == name {
			return s, true
		}
	}
	return control.StreamStatus{}, false
}

// httpClient talks HTTP to the control API directly (for status codes and raw bodies).
func (h *harness) httpClient() *http.Client {
	network, addr := "tcp", h.listen
	if p, ok := strings.CutPrefix(h.listen, "unix:"); ok {
		network, addr = "unix", p
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{Timeout: cliTimeout, Transport: &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, network, addr) },
		DisableKeepAlives: true, // no idle connection goroutines left for goleak
	}}
}

// call makes one request and returns the status code and body.
func (h *harness) call(method, path, token, contentType, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, "http://holdfast"+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.httpClient().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, string(data)
}

// proc is a running `holdfast run`. It is killed (if still running) in t.Cleanup.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout actortest.Buffer
	stderr actortest.Buffer
	done   chan struct{} // closed once Wait returned; cmd.ProcessState is set then
}

// start runs `holdfast run --config h.cfg` with extra environment variables.
func (h *harness) start(env ...string) *proc {
	h.t.Helper()
	t := h.t
	p := &proc{t: t, done: make(chan struct{})}
	bin := h.bin
	if bin == "" {
		bin = holdfastBin
	}
	p.cmd = exec.Command(bin, "run", "--config", h.cfg)
	p.cmd.Dir, p.cmd.Env = h.dir, childEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start holdfast: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // "already finished" when it exited on its own
		<-p.done
		logs := p.stderr.String()
		if strings.Contains(logs, "DATA RACE") {
			t.Errorf("daemon reported a data race:\n%s", logs)
		} else if t.Failed() {
			t.Logf("daemon pid %d stderr:\n%s", p.cmd.Process.Pid, tail(logs, 40))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait returns the exit state once the process is gone, failing the test after timeout.
func (p *proc) wait(timeout time.Duration) *os.ProcessState {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState
	case <-time.After(timeout):
		p.t.Fatalf("daemon still running %v later", timeout)
		return nil
	}
}

// waitFor polls cond until it holds; it fails the test on timeout or when the daemon exits.
func (p *proc) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if p.exited() {
			p.t.Fatalf("daemon exited (%v) while waiting for %s", p.cmd.ProcessState, what)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %v waiting for %s", startTimeout, what)
		}
		<-tick.C
	}
}

// logs parses the JSON log lines on stderr; other lines (a race report) are skipped.
func (p *proc) logs() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// logged counts log lines whose message contains msg.
func (p *proc) logged(msg string) int {
	n := 0
	for _, l := range p.logs() {
		if s, _ := l["message"].(string); strings.Contains(s, msg) {
			n++
		}
	}
	return n
}

// waitLog waits until at least n log lines contain msg.
func (p *proc) waitLog(msg string, n int) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("%d log lines %q", n, msg), func() bool { return p.logged(msg) >= n })
}

// waitState waits until stream reports state through the control API.
func (h *harness) waitState(p *proc, stream, state string) control.StreamStatus {
	h.t.Helper()
	var row control.StreamStatus
	p.waitFor(fmt.Sprintf("stream %s %s", stream, state), func() bool {
		var ok bool
		row, ok = h.stream(stream)
		return ok && row.State == state
	})
	return row
}

// awaitUp waits up to startTimeout (the upstream's own Await allows 10s) for cond.
func awaitUp(t *testing.T, up *upstream.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := up.WaitFor(ctx, cond); err != nil {
		t.Fatalf("upstream: waiting for %s: %v", what, err)
	}
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

func TestCheckReportsMisspeltKeyAndRedacts(t *testing.T) {
	h := newHarness(t, false)
	up := "ws://127.0.0.1:1/ws" // never dialled by check

	t.Run("misspelt key exits 2 naming key and line", func(t *testing.T) {
		h := *h
		h.t = t
		text := h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
			streamDef{name: "a", url: up, sink: "out", reconnect: "max_attemps = 3"}.String()
		line := slices.Index(strings.Split(text, "\n"), "max_attemps = 3") + 1
		h.write(text)
		_, stderr, code := h.cli("", "check", "--config", h.cfg)
		if code != exitUsage {
			t.Fatalf("check exit code = %d, want %d; stderr: %s", code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, "max_attemps") || !strings.Contains(stderr, fmt.Sprintf("%s:%d:", h.cfg, line)) {
			t.Errorf("stderr = %q, want the key max_attemps at %s:%d", stderr, h.cfg, line)
		}
	})

	t.Run("example config is valid and shows no secrets", func(t *testing.T) {
		example, err := filepath.Abs("../config.toml")
		if err != nil {
			t.Fatal(err)
		}
		// The variables the example names (commented out there) hold secrets; none may show.
		const ctlSecret, streamSecret = "ctl-secret-5f2a9c", "stream-secret-81be07"
		h := *h
		h.t = t
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, holdfastBin, "check", "--config", example)
		cmd.Dir = h.dir
		cmd.Env = childEnv("HOLDFAST_CONTROL_TOKEN="+ctlSecret, "PROCESSING_TOKEN="+streamSecret)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("check %s: %v\nstderr: %s", example, err, errb.String())
		}
		if !strings.Contains(out.String(), "is valid") {
			t.Errorf("stdout does not say the config is valid:\n%s", out.String())
		}
		for _, s := range []string{ctlSecret, streamSecret} {
			if strings.Contains(out.String()+errb.String(), s) {
				t.Errorf("check printed the secret %q", s)
			}
		}
	})

	t.Run("secrets of a config in use are redacted", func(t *testing.T) {
		const ctlSecret, streamSecret = "ctl-secret-0d7e41", "stream-secret-c39f55"
		h := *h
		h.t = t
		tokenFile := filepath.Join(h.dir, "control.token")
		if err := os.WriteFile(tokenFile, []byte(ctlSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		h.write(h.header(5*time.Second, fmt.Sprintf("token_file = %q", tokenFile)) + h.fileSink("out", "100ms") +
			streamDef{name: "a", url: up, sink: "out",
				tables: "[stream.auth]\nmode = \"header\"\ntoken_env = \"HF_TEST_STREAM_TOKEN\""}.String())
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, holdfastBin, "check", "--config", h.cfg)
		cmd.Dir, cmd.Env = h.dir, childEnv("HF_TEST_STREAM_TOKEN="+streamSecret)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("check: %v\n%s", err, out)
		}
		for _, s := range []string{ctlSecret, streamSecret} {
			if strings.Contains(string(out), s) {
				t.Errorf("check printed the secret %q:\n%s", s, out)
			}
		}
	})
}

func TestReloadAddsAndRemovesStreamKeepingUnchanged(t *testing.T) {
	h := newHarness(t, false)
	upA := upstream.NewTest(t, upstream.Options{})
	upB := upstream.NewTest(t, upstream.Options{})
	sinks := h.fileSink("out_a", "100ms") + h.fileSink("out_b", "100ms")
	a := streamDef{name: "a", url: upA.URL(), sink: "out_a"}
	b := streamDef{name: "b", url: upB.URL(), sink: "out_b"}
	onlyA := h.header(5*time.Second, "") + sinks + a.String()
	h.write(onlyA)
	p := h.start()
	awaitUp(t, upA, "a subscribed", func() bool { return upA.Subscribed() == 1 })
	p.waitLog("holdfast started", 1)

	h.write(h.header(5*time.Second, "") + sinks + a.String() + b.String())
	p.signal(syscall.SIGHUP)
	awaitUp(t, upB, "b subscribed after the reload added it", func() bool { return upB.Subscribed() == 1 })
	p.waitLog("reload applied", 1)
	if got := upA.Handshakes(); got != 1 {
		t.Errorf("after adding b: upstream A handshakes = %d, want 1 (a is unchanged)", got)
	}
	h.waitState(p, "b", "connected")

	h.write(onlyA)
	p.signal(syscall.SIGHUP)
	awaitUp(t, upB, "b's connection closed after the reload removed it", func() bool { return upB.Conns() == 0 })
	p.waitLog("reload applied", 2)
	if got, conns := upA.Handshakes(), upA.Conns(); got != 1 || conns != 1 {
		t.Errorf("after removing b: upstream A handshakes = %d, conns = %d, want 1 and 1", got, conns)
	}
	p.waitFor("b gone from status", func() bool {
		_, hasB := h.stream("b")
		_, hasA := h.stream("a")
		return hasA && !hasB
	})
}

func TestReloadRejectsInvalidConfig(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	good := h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
		streamDef{name: "a", url: up.URL(), sink: "out"}.String()
	h.write(good)
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	p.waitLog("holdfast started", 1)

	h.write(strings.Replace(good, "initial_delay", "initial_dleay", 1))
	p.signal(syscall.SIGHUP)
	p.waitLog("reload rejected", 1)
	for _, l := range p.logs() {
		if m, _ := l["message"].(string); strings.Contains(m, "reload rejected") && l["level"] != "error" {
			t.Errorf("reload rejected logged at %v, want error", l["level"])
		}
	}
	if got, conns := up.Handshakes(), up.Conns(); got != 1 || conns != 1 {
		t.Errorf("after a rejected reload: handshakes = %d, conns = %d, want 1 and 1", got, conns)
	}
	if row := h.waitState(p, "a", "connected"); row.Name != "a" {
		t.Errorf("status row = %+v", row)
	}
	if p.exited() {
		t.Fatalf("daemon exited after a rejected reload: %v", p.cmd.ProcessState)
	}
	p.signal(syscall.SIGTERM)
	if st := p.wait(exitTimeout); st.ExitCode() != exitOK {
		t.Errorf("exit after SIGTERM = %v, want 0", st)
	}
}

func TestSIGTERMDrainsFileSink(t *testing.T) {
	// shutdown_timeout is generous: what this test proves is that SIGTERM drains every sink
	// and exits 0 (the "drained" line), not how fast 300 exec processes run on a loaded
	// machine; TestShutdownTimeoutKillsExecAndExits3 and TestShutdownWaitsPastTenSeconds prove
	// that the timeout itself is kept.
	const events, shutdown = 300, 60 * time.Second
	h := newHarness(t, true) // TCP control this time
	up := upstream.NewTest(t, upstream.Options{})
	// The file sink's lines would reach the file without the drain too (it flushes when
	// idle); a slow exec sink, a process per event, still holds most events in its mailbox
	// when SIGTERM comes, so its output proves the drain.
	slowOut := filepath.Join(h.dir, "slow.out")
	h.write(h.header(shutdown, "") + h.fileSink("out", "1h") + fmt.Sprintf(`
[[sink]]
name = "slow"
kind = "exec"
mode = "per_event"
command = ["/bin/sh", "-c", "cat >> %s"]
`, slowOut) + strings.Replace(streamDef{name: "a", url: up.URL(), sink: "out"}.String(),
		`sinks = ["out"]`, `sinks = ["out", "slow"]`, 1))
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	for i := range events {
		up.Publish("processing_progress", map[string]any{"i": i})
	}
	p.waitFor(fmt.Sprintf("events_in = %d", events), func() bool {
		row, ok := h.stream("a")
		return ok && row.EventsIn == events
	})
	execDone := 0
	if b, err := os.ReadFile(slowOut); err == nil {
		execDone = strings.Count(string(b), "\n")
	}
	start := time.Now()
	p.signal(syscall.SIGTERM)
	st := p.wait(shutdown + exitTimeout)
	if took := time.Since(start); st.ExitCode() != exitOK || took > shutdown+exitTimeout {
		t.Fatalf("after SIGTERM: %v after %v, want exit 0 within %v", st, took, shutdown)
	}
	if p.logged("drained") != 1 {
		t.Errorf("no \"drained\" log line: the shutdown timed out instead of draining")
	}
	data, err := os.ReadFile(h.sinkPath("out"))
	if err != nil {
		t.Fatalf("read sink file: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != events {
		t.Fatalf("sink file holds %d lines, want %d", len(lines), events)
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) || !strings.Contains(l, fmt.Sprintf(`"seq":%d,`, i+1)) && !strings.Contains(l, fmt.Sprintf(`"seq":%d}`, i+1)) {
			t.Fatalf("line %d = %s, want the event with seq %d", i+1, l, i+1)
		}
	}
	slow, err := os.ReadFile(slowOut)
	if err != nil {
		t.Fatalf("read exec sink output: %v", err)
	}
	if n := strings.Count(string(slow), "\n"); n != events {
		t.Fatalf("the exec sink ran for %d events, want all %d: the drain stopped early", n, events)
	}
	t.Logf("exec sink had %d of %d events done when SIGTERM came", execDone, events)
}

// hangingHooks starts a webhook receiver that never answers and returns n webhook sinks
// posting to it, the route line sending every event to all of them, and the count of
// requests received. Each sink then holds its event for its stop grace at shutdown, so the
// drain takes about n times that grace.
func hangingHooks(t *testing.T, n int) (sinks, route string, received func() int) {
	t.Helper()
	var (
		mu    sync.Mutex
		count int
	)
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		count++
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-served })
	t.Cleanup(func() { close(release) }) // runs first: handlers return, then the server closes

	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%q", fmt.Sprintf("hook%d", i))
		sinks += fmt.Sprintf(`
[[sink]]
name = %s
kind = "webhook"
url = "http://%s/hook"
timeout = "60s"
max_retries = 0
`, names[i], ln.Addr())
	}
	return sinks, "sinks = [" + strings.Join(names, ", ") + "]", func() int {
		mu.Lock()
		defer mu.Unlock()
		return count
	}
}

// hookConfig is a config with one stream whose events go to every hanging webhook sink.
func (h *harness) hookConfig(shutdown time.Duration, url, sinks, route string) string {
	text := h.header(shutdown, "") + sinks + streamDef{name: "a", url: url, sink: "hook0"}.String()
	return strings.Replace(text, `sinks = ["hook0"]`, route, 1)
}

// startHoldingHooks runs a daemon whose one event is held by n webhook sinks that never
// answer, so its shutdown is slow.
func startHoldingHooks(t *testing.T, n int) *proc {
	t.Helper()
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	sinks, route, received := hangingHooks(t, n)
	h.write(h.hookConfig(30*time.Second, up.URL(), sinks, route))
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	up.Publish("processing_progress", nil)
	p.waitFor("every webhook holding its request", func() bool { return received() == n })
	return p
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	const hooks = 3
	p := startHoldingHooks(t, hooks)

	p.signal(syscall.SIGTERM)
	p.waitLog("shutting down", 1) // logged after the daemon restored default signal handling
	start := time.Now()
	p.signal(syscall.SIGTERM)
	st := p.wait(exitTimeout)
	took := time.Since(start)
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("after a second SIGTERM: %v, want killed by SIGTERM", st)
	}
	// The drain it cuts short would take about 2s per hook (6s); 3s leaves a loaded machine
	// room to deliver the signal and reap the process.
	if took > 3*time.Second {
		t.Errorf("second SIGTERM took %v to end the process, want well under the drain's %ds", took, 2*hooks)
	}
}

// A drain may take longer than protoactor's 10s future timeout when shutdown_timeout allows.
func TestShutdownWaitsPastTenSeconds(t *testing.T) {
	const hooks = 6 // about 2s of stop grace each
	p := startHoldingHooks(t, hooks)

	p.signal(syscall.SIGTERM)
	if st := p.wait(30 * time.Second); st.ExitCode() != exitOK {
		t.Errorf("exit after SIGTERM = %v, want 0", st)
	}
	if got := p.logged("events left undelivered at stop"); got != hooks || p.logged("drained") != 1 {
		t.Errorf("%d of %d sinks finished their teardown, drained logged %d times: the drain was cut short",
			got, hooks, p.logged("drained"))
	}
}

func TestDurableQueueSurvivesSIGKILL(t *testing.T) {
	const msgs = 12
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	up.RefuseUpgrades(http.StatusServiceUnavailable, "")
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
		streamDef{name: "a", url: up.URL(), sink: "out", tables: "[stream.queue]\ndurable = true"}.String())
	p := h.start()
	p.waitLog("holdfast started", 1)

	want := make([]string, msgs)
	for i := range msgs {
		want[i] = fmt.Sprintf(`{"type":"command","n":%d}`, i)
		out, stderr, code := h.cli("", "send", "--config", h.cfg, "--stream", "a", want[i])
		if code != 0 || !strings.HasPrefix(out, "accepted 1, queue depth ") {
			t.Fatalf("send %d: exit %d, stdout %q, stderr %q", i, code, out, stderr)
		}
	}
	if got := len(up.Outbound()); got != 0 {
		t.Fatalf("upstream got %d messages while refusing upgrades", got)
	}
	p.signal(syscall.SIGKILL)
	p.wait(exitTimeout)

	p2 := h.start()
	p2.waitLog("queue restored", 1)
	h.waitState(p2, "a", "backoff")
	p2.waitFor("status to show the restored depth", func() bool {
		row, ok := h.stream("a")
		return ok && row.Queue.Depth == msgs
	})
	up.RefuseUpgrades(0, "")
	awaitUp(t, up, fmt.Sprintf("%d outbound messages", msgs), func() bool { return len(up.Outbound()) >= msgs })
	p2.waitFor("queue empty and every message confirmed", func() bool {
		row, ok := h.stream("a")
		return ok && row.Queue.Depth == 0 && row.Queue.Sent == msgs
	})
	got := up.Outbound()
	if len(got) != msgs {
		t.Fatalf("upstream received %d messages, want exactly %d: %v", len(got), msgs, got)
	}
	for i, m := range got {
		if m["type"] != "command" || m["n"] != float64(i) {
			t.Errorf("outbound[%d] = %v, want %s", i, m, want[i])
		}
	}
}

func TestControlAPIThroughDaemon(t *testing.T) {
	const token = "ctl-token-3e9d1b"
	h := newHarness(t, false)
	h.token = token
	tokenFile := filepath.Join(h.dir, "control.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(5*time.Second, fmt.Sprintf("token_file = %q", tokenFile)) + h.fileSink("out", "100ms") +
		streamDef{name: "a", url: up.URL(), sink: "out"}.String())
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	h.waitState(p, "a", "connected")

	sock := strings.TrimPrefix(h.listen, "unix:")
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("control socket %s: %v, mode %v, want a socket with mode 0600", sock, err, fi.Mode())
	}

	t.Run("without the token every route is 401", func(t *testing.T) {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/v1/streams", ""},
			{"POST", "/v1/streams/a/messages", `{"type":"x"}`},
			{"GET", "/readyz", ""},
			{"GET", "/metrics", ""},
		} {
			for _, tok := range []string{"", "wrong"} {
				if code, body := h.call(r.method, r.path, tok, "application/json", r.body); code != http.StatusUnauthorized {
					t.Errorf("%s %s with token %q = %d %s, want 401", r.method, r.path, tok, code, body)
				}
			}
		}
	})

	t.Run("status CLI reads the token file", func(t *testing.T) {
		out, stderr, code := h.cli("", "status", "--config", h.cfg)
		if code != 0 || !strings.Contains(out, "a") || !strings.Contains(out, "connected") {
			t.Errorf("status: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		out, stderr, code = h.cli("", "status", "--config", h.cfg, "--json")
		var st control.StatusResponse
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Streams) != 1 || st.Streams[0].State != "connected" {
			t.Errorf("status --json: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		if strings.Contains(out+stderr, token) {
			t.Errorf("status printed the token")
		}
	})

	t.Run("send reaches the upstream", func(t *testing.T) {
		out, stderr, code := h.cli("", "send", "--config", h.cfg, "--stream", "a", `{"type":"hello","n":1}`)
		if code != 0 || !strings.HasPrefix(out, "accepted 1") {
			t.Fatalf("send: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		awaitUp(t, up, "hello outbound", func() bool { return len(up.Outbound()) == 1 })
		if m := up.Outbound()[0]; m["type"] != "hello" || m["n"] != float64(1) {
			t.Errorf("outbound = %v, want the hello message", m)
		}
		// NDJSON on stdin: two messages, in order.
		out, stderr, code = h.cli("{\"type\":\"hello\",\"n\":2}\n{\"type\":\"hello\",\"n\":3}\n", "send", "--config", h.cfg, "--stream", "a")
		if code != 0 || !strings.HasPrefix(out, "accepted 2") {
			t.Fatalf("send NDJSON: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		awaitUp(t, up, "3 outbound", func() bool { return len(up.Outbound()) == 3 })
	})

	t.Run("invalid JSON is 400 and queues nothing", func(t *testing.T) {
		// Queue stats are reported every 250ms: wait until they show the earlier sends done.
		var row control.StreamStatus
		p.waitFor("queue idle", func() bool {
			var ok bool
			row, ok = h.stream("a")
			return ok && row.Queue.Depth == 0 && row.Queue.Sent == uint64(len(up.Outbound()))
		})
		before, sentBefore := len(up.Outbound()), row.Queue.Sent
		for _, body := range []string{`{"type":`, `not json`, `["array"]`, `{"ok":1} {"bad":`, ``} {
			if code, resp := h.call("POST", "/v1/streams/a/messages", token, "application/json", body); code != http.StatusBadRequest {
				t.Errorf("POST %q = %d %s, want 400", body, code, resp)
			}
		}
		if row, ok := h.stream("a"); !ok || row.Queue.Depth != 0 {
			t.Errorf("queue depth after bad requests = %d (ok %v), want 0", row.Queue.Depth, ok)
		}
		// A marker sent now must be the only message sent since, and the next one the upstream sees.
		if code, resp := h.call("POST", "/v1/streams/a/messages", token, "application/json", `{"type":"marker"}`); code != http.StatusAccepted {
			t.Fatalf("POST marker = %d %s, want 202", code, resp)
		}
		awaitUp(t, up, "marker", func() bool { return len(up.Outbound()) > before })
		p.waitFor("marker confirmed", func() bool {
			row, ok := h.stream("a")
			return ok && row.Queue.Depth == 0 && row.Queue.Sent > sentBefore
		})
		if got := up.Outbound()[before:]; len(got) != 1 || got[0]["type"] != "marker" {
			t.Errorf("after the bad requests the upstream got %v, want only the marker", got)
		}
		if row, _ := h.stream("a"); row.Queue.Sent != sentBefore+1 {
			t.Errorf("queue sent = %d, want %d: only the marker", row.Queue.Sent, sentBefore+1)
		}
	})

	t.Run("unknown stream is 404", func(t *testing.T) {
		if code, resp := h.call("POST", "/v1/streams/nope/messages", token, "application/json", `{"type":"x"}`); code != http.StatusNotFound {
			t.Errorf("POST to unknown stream = %d %s, want 404", code, resp)
		}
		if _, stderr, code := h.cli("", "send", "--config", h.cfg, "--stream", "nope", `{"type":"x"}`); code != exitRuntime || !strings.Contains(stderr, "404") {
			t.Errorf("send to unknown stream: exit %d, stderr %q, want 1 and a 404", code, stderr)
		}
	})

	t.Run("metrics after traffic", func(t *testing.T) {
		up.Publish("processing_progress", map[string]any{"n": 1})
		p.waitFor("event counted", func() bool { row, ok := h.stream("a"); return ok && row.EventsIn >= 1 })
		code, body := h.call("GET", "/metrics", token, "", "")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics = %d", code)
		}
		for _, want := range []string{
			`holdfast_events_in_total{stream="a",type="processing_progress"} 1`,
			`holdfast_queue_depth{stream="a"} 0`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})

	t.Run("readyz follows the link", func(t *testing.T) {
		if code, body := h.call("GET", "/readyz", token, "", ""); code != http.StatusOK {
			t.Errorf("GET /readyz while connected = %d %s, want 200", code, body)
		}
		up.RefuseUpgrades(http.StatusServiceUnavailable, "")
		up.DropConnections()
		var code int
		var body string
		p.waitFor("/readyz 503", func() bool {
			code, body = h.call("GET", "/readyz", token, "", "")
			return code == http.StatusServiceUnavailable
		})
		if !strings.Contains(body, `"stream":"a"`) {
			t.Errorf("/readyz body = %q, want it to name stream a", body)
		}
		up.RefuseUpgrades(0, "")
		p.waitFor("/readyz 200 again", func() bool {
			code, _ = h.call("GET", "/readyz", token, "", "")
			return code == http.StatusOK
		})
	})
}

// notifySocket stands in for systemd's notification socket and records every datagram.
type notifySocket struct {
	path string
	mu   sync.Mutex
	got  []string
}

func listenNotify(t *testing.T, dir string) *notifySocket {
	t.Helper()
	ns := &notifySocket{path: filepath.Join(dir, "notify.sock")}
	if len(ns.path) > 100 {
		short, err := os.MkdirTemp("", "hfn")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(short) })
		ns.path = filepath.Join(short, "notify.sock")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns.path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", ns.path, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return // closed in cleanup
			}
			ns.mu.Lock()
			ns.got = append(ns.got, string(buf[:n]))
			ns.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	return ns
}

func (ns *notifySocket) all() []string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return append([]string(nil), ns.got...)
}

// index is the first datagram at or after from that starts with prefix; -1 when none.
func (ns *notifySocket) index(from int, prefix string) int {
	for i, d := range ns.all() {
		if i >= from && strings.HasPrefix(d, prefix) {
			return i
		}
	}
	return -1
}

func (ns *notifySocket) count(prefix string) int {
	n := 0
	for _, d := range ns.all() {
		if strings.HasPrefix(d, prefix) {
			n++
		}
	}
	return n
}

func TestSdNotifyLifecycle(t *testing.T) {
	h := newHarness(t, false)
	ns := listenNotify(t, h.dir)
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
		streamDef{name: "a", url: up.URL(), sink: "out"}.String())
	// go-systemd honours WATCHDOG_USEC only when WATCHDOG_PID is unset or the process's own
	// pid, which is unknown before the start: leave it unset.
	p := h.start("NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=200000")

	p.waitFor("READY=1", func() bool { return ns.index(0, "READY=1") >= 0 })
	p.waitFor("STATUS=1/1 streams connected; queue 0", func() bool {
		return ns.index(0, "STATUS=1/1 streams connected; queue 0") >= 0
	})
	p.waitFor("three WATCHDOG=1 pings", func() bool { return ns.count("WATCHDOG=1") >= 3 })
	if i, j := ns.index(0, "READY=1"), ns.index(0, "STATUS=1/1"); i > j {
		t.Errorf("READY=1 at %d came after the connected status at %d: %q", i, j, ns.all())
	}

	mark := len(ns.all())
	p.signal(syscall.SIGHUP)
	p.waitFor("RELOADING=1 then READY=1", func() bool {
		r := ns.index(mark, "RELOADING=1")
		return r >= 0 && ns.index(r+1, "READY=1") > r
	})
	if d := ns.all()[ns.index(mark, "RELOADING=1")]; !strings.Contains(d, "\nMONOTONIC_USEC=") {
		t.Errorf("reloading datagram = %q, want MONOTONIC_USEC with it", d)
	}

	mark = len(ns.all())
	p.signal(syscall.SIGTERM)
	if st := p.wait(exitTimeout); st.ExitCode() != exitOK {
		t.Errorf("exit after SIGTERM = %v, want 0", st)
	}
	p.waitForGone("STOPPING=1", func() bool { return ns.index(mark, "STOPPING=1") >= 0 })
}

// waitForGone polls cond after the daemon exited (datagrams it sent may still be unread).
func (p *proc) waitForGone(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out after %v waiting for %s", startTimeout, what)
		}
		<-tick.C
	}
}

func TestAllStreamsFailedExits1(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	up.RefuseUpgrades(http.StatusServiceUnavailable, "")
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") +
		streamDef{name: "a", url: up.URL(), sink: "out", reconnect: "max_attempts = 1"}.String())
	p := h.start()
	st := p.wait(startTimeout)
	if st.ExitCode() != exitRuntime {
		t.Fatalf("exit = %v, want status 1", st)
	}
	if p.logged("every stream has failed") == 0 {
		t.Errorf("no \"every stream has failed\" log line")
	}
}
