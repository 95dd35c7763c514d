package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"holdfast/messages"
)

// stderrTail is how much of a command's stderr an error quotes.
const stderrTail = 512

// waitDelay bounds the wait for a command's stderr to close after it exited or was killed
// (a grandchild may hold it open).
const waitDelay = 2 * time.Second

// pipeCloseGrace is how long Close waits for a pipe process to exit after its stdin closed.
const pipeCloseGrace = 5 * time.Second

// aLongTimeAgo is a write deadline that has passed: setting it interrupts a blocked write.
var aLongTimeAgo = time.Unix(1, 0)

// command returns an *exec.Cmd in its own process group, so that killing it also kills
// whatever it started.
func command(argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = waitDelay
	return cmd
}

// Groups tracks the process groups exec sinks have running, so that a daemon whose shutdown
// timed out, before every sink stopped, can kill them instead of leaving them to PID 1.
// Safe for concurrent use; a nil *Groups tracks nothing.
type Groups struct {
	mu   sync.Mutex
	pids map[int]struct{}
}

// NewGroups returns an empty registry.
func NewGroups() *Groups { return &Groups{pids: map[int]struct{}{}} }

func (g *Groups) add(pid int) {
	if g != nil {
		g.mu.Lock()
		g.pids[pid] = struct{}{}
		g.mu.Unlock()
	}
}

func (g *Groups) remove(pid int) {
	if g != nil {
		g.mu.Lock()
		delete(g.pids, pid)
		g.mu.Unlock()
	}
}

// KillAll kills every tracked process group and returns how many there were.
func (g *Groups) KillAll() int {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for pid := range g.pids {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	return len(g.pids)
}

// Track makes s, when it is an exec sink, register its processes in g.
func Track(s Sink, g *Groups) {
	switch s := s.(type) {
	case *perEvent:
		s.groups = g
	case *pipe:
		s.mu.Lock()
		s.groups = g
		s.mu.Unlock()
	}
}

// killGroup kills cmd's process group.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// startError classifies a failed Start: a missing or non-executable command is permanent.
func startError(name string, err error) error {
	err = fmt.Errorf("start %s: %w", name, err)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return &Error{Permanent: true, Err: err}
	}
	return err
}

// tail keeps the last stderrTail bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > stderrTail {
		t.buf = t.buf[:copy(t.buf, t.buf[len(t.buf)-stderrTail:])]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// withStderr appends a stderr excerpt to err's text.
func withStderr(err error, t *tail) error {
	if s := t.String(); s != "" {
		return fmt.Errorf("%w: stderr: %s", err, s)
	}
	return err
}

// defaultPath is the child's PATH when the daemon has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// ChildEnv is the environment of an exec sink's processes: PATH, the variables pass names
// with their values in the daemon's environment (unset ones are left out), then env. Nothing
// else of the daemon's environment reaches the child, so its tokens never do.
func ChildEnv(env map[string]string, pass []string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	out := []string{"PATH=" + path}
	for _, name := range pass {
		if v, ok := os.LookupEnv(name); ok {
			out = append(out, name+"="+v)
		}
	}
	names := slices.Sorted(maps.Keys(env))
	for _, name := range names {
		out = append(out, name+"="+env[name])
	}
	return out
}

// perEvent runs the command once per event: the envelope (and a newline) on stdin, in the
// environment ChildEnv builds plus HOLDFAST_STREAM, HOLDFAST_TYPE and HOLDFAST_OFFSET.
// Exit 0 is success. Its stdout is discarded.
type perEvent struct {
	argv    []string
	env     []string // ChildEnv
	name    string   // argv[0]'s base name, for errors: arguments may hold secrets
	timeout time.Duration
	groups  *Groups // set by Track before the first Write
}

func newPerEvent(argv, env []string, timeout time.Duration) *perEvent {
	return &perEvent{argv: argv, env: env, name: filepath.Base(argv[0]), timeout: timeout}
}

// Write runs the events one after another and stops at the first failure.
func (p *perEvent) Write(ctx context.Context, events []messages.Event) error {
	for _, e := range events {
		if err := p.run(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (p *perEvent) run(ctx context.Context, e messages.Event) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := command(p.argv)
	cmd.Env = append(slices.Clip(p.env), "HOLDFAST_STREAM="+e.Stream, "HOLDFAST_TYPE="+e.Type,
		"HOLDFAST_OFFSET="+strconv.FormatUint(e.Offset, 10))
	cmd.Stdin = bytes.NewReader(append(e.Line[:len(e.Line):len(e.Line)], '\n'))
	stderr := &tail{}
	cmd.Stderr = stderr
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("exec %s: %w", p.name, err)
	}
	if err := cmd.Start(); err != nil {
		return startError(p.name, err)
	}
	p.groups.add(cmd.Process.Pid)
	defer p.groups.remove(cmd.Process.Pid)
	// A Context-bound Cmd would kill only the child; the watcher kills the whole group.
	stop := context.AfterFunc(ctx, func() { _ = killGroup(cmd) })
	err := cmd.Wait()
	stopped := !stop()
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay): // exit 0; a grandchild kept stderr open
		return nil
	case stopped && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return withStderr(fmt.Errorf("exec %s: timed out after %v", p.name, p.timeout), stderr)
	case stopped:
		return fmt.Errorf("exec %s: %w", p.name, ctx.Err())
	}
	return withStderr(fmt.Errorf("exec %s: %w", p.name, err), stderr)
}

func (p *perEvent) Flush() error  { return nil }
func (p *perEvent) Reopen() error { return nil }
func (p *perEvent) Close() error  { return nil }

// pipe feeds NDJSON lines to one long-running process's stdin. The process starts on the
// first Write, and again on the first Write after it died; see the package comment for what
// that guarantees.
type pipe struct {
	argv    []string
	env     []string // ChildEnv
	name    string
	timeout time.Duration // bound on one Write; a process that stops reading is killed
	grace   time.Duration // Close's wait for the process to exit: pipeCloseGrace
	log     zerolog.Logger
	groups  *Groups // set by Track

	mu     sync.Mutex
	cmd    *exec.Cmd // nil when no process is running
	stdin  *os.File
	stderr *tail
	exited chan struct{} // closed once cmd has been waited for
	err    error         // cmd.Wait's result, valid after exited
}

func newPipe(argv, env []string, timeout time.Duration, log zerolog.Logger) *pipe {
	return &pipe{argv: argv, env: env, name: filepath.Base(argv[0]), timeout: timeout, grace: pipeCloseGrace, log: log}
}

// Write writes the events as lines in one write. If the process exited since the last
// Write, Write reports that and the next Write starts a new process. Any failure kills the
// process, since a partly written line would corrupt the stream.
func (p *pipe) Write(ctx context.Context, events []messages.Event) error {
	var buf []byte
	for _, e := range events {
		buf = append(append(buf, e.Line...), '\n')
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.exited:
			status := "exit status 0"
			if p.err != nil {
				status = p.err.Error()
			}
			err := withStderr(fmt.Errorf("exec %s: process exited: %s", p.name, status), p.stderr)
			_ = p.stdin.Close()
			p.cmd = nil
			return err
		default:
		}
	}
	if p.cmd == nil {
		if err := p.startLocked(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	_ = p.stdin.SetWriteDeadline(time.Time{})
	stdin := p.stdin
	stop := context.AfterFunc(ctx, func() { _ = stdin.SetWriteDeadline(aLongTimeAgo) })
	_, err := p.stdin.Write(buf)
	stop()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no progress in %v: %w", p.timeout, ctx.Err())
		}
		p.stopLocked()
		return withStderr(fmt.Errorf("exec %s: write: %w", p.name, err), p.stderr)
	}
	return nil
}

func (p *pipe) startLocked() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("exec %s: pipe: %w", p.name, err)
	}
	cmd := command(p.argv)
	cmd.Env = p.env
	cmd.Stdin = r
	p.stderr = &tail{}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return startError(p.name, err)
	}
	_ = r.Close() // the child has its copy; ours would keep the pipe open after it died
	exited := make(chan struct{})
	p.cmd, p.stdin, p.exited = cmd, w, exited
	groups := p.groups
	groups.add(cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		groups.remove(cmd.Process.Pid)
		p.mu.Lock()
		if p.cmd == cmd {
			p.err = err
		}
		p.mu.Unlock()
		close(exited)
	}()
	p.log.Info().Int("pid", cmd.Process.Pid).Msg("pipe process started")
	return nil
}

// stopLocked kills the process and waits for it.
func (p *pipe) stopLocked() {
	if p.cmd == nil {
		return
	}
	_ = p.stdin.Close()
	_ = killGroup(p.cmd)
	p.mu.Unlock() // the waiter takes mu to record the result
	<-p.exited
	p.mu.Lock()
	p.cmd = nil
}

func (p *pipe) Flush() error  { return nil }
func (p *pipe) Reopen() error { return nil }

// Close closes stdin, gives the process its grace to finish, then kills its group.
func (p *pipe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	_ = p.stdin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), p.grace)
	defer cancel()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock() // the waiter takes mu to record the result
	var err error
	select {
	case <-exited:
	case <-ctx.Done():
		err = fmt.Errorf("exec %s: killed: still running %v after stdin closed", p.name, p.grace)
		_ = killGroup(cmd)
		<-exited
	}
	p.mu.Lock()
	if err == nil && p.err != nil {
		err = withStderr(fmt.Errorf("exec %s: %w", p.name, p.err), p.stderr)
	}
	p.cmd = nil
	return err
}
