package sinks

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"holdfast/messages"
)

// flushAt is the buffered size at which Write flushes on its own, before the next Flush.
const flushAt = 64 << 10

// fileMode is the mode a file sink creates its file with.
const fileMode = 0o640

// lines is the stdout and file sink: NDJSON lines in a buffer of whole lines, written by
// Flush with one write call. It keeps its own buffer rather than a bufio.Writer because a
// bufio.Writer refuses all writes after its first error, while here data that failed to
// write stays buffered and the next Flush writes it again.
type lines struct {
	mu    sync.Mutex
	name  string    // for errors: the path, or "stdout"
	out   io.Writer // stdout, or f while it is open
	buf   []byte    // whole lines not yet written
	limit int       // Write flushes first when buf would grow past it

	// file only
	path  string
	fsync bool
	f     *os.File               // nil until the first flush, and after a failed reopen
	dirty bool                   // written since the last fsync
	sync  func(f *os.File) error // (*os.File).Sync; tests count calls
}

func newStdout(w io.Writer) *lines {
	return &lines{name: "stdout", out: w, limit: flushAt}
}

func newFile(path string, fsync bool) *lines {
	return &lines{name: path, path: path, fsync: fsync, limit: flushAt, sync: (*os.File).Sync}
}

// Write appends one line per event to the buffer. It fails only when the buffer is full and
// writing it out fails; then none of events were taken, so the retry adds them exactly once.
func (l *lines) Write(_ context.Context, events []messages.Event) error {
	n := 0
	for _, e := range events {
		n += len(e.Line) + 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 && len(l.buf)+n > l.limit {
		if err := l.flushLocked(); err != nil {
			return err
		}
	}
	for _, e := range events {
		l.buf = append(l.buf, e.Line...)
		l.buf = append(l.buf, '\n')
	}
	return nil
}

// Flush writes the buffer in one write call, so an O_APPEND file shared with another writer
// never has lines interleaved, then fsyncs when configured.
func (l *lines) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *lines) flushLocked() error {
	if len(l.buf) > 0 {
		if l.path != "" && l.f == nil {
			if err := l.openLocked(); err != nil {
				return err
			}
		}
		n, err := l.out.Write(l.buf)
		l.buf = l.buf[:copy(l.buf, l.buf[n:])] // keep what was not written
		if n > 0 {
			l.dirty = true
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", l.name, err)
		}
	}
	if l.fsync && l.dirty && l.f != nil {
		if err := l.sync(l.f); err != nil {
			return fmt.Errorf("fsync %s: %w", l.name, err)
		}
		l.dirty = false
	}
	return nil
}

func (l *lines) openLocked() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("open %s: %w", l.path, err)
	}
	l.f, l.out = f, f
	return nil
}

// Reopen flushes to the current file (after logrotate renamed it, that is the rotated one),
// closes it and opens the path again. Data that could not be flushed stays buffered and goes
// to the new file.
func (l *lines) Reopen() error {
	if l.path == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ferr := l.flushLocked()
	if l.f != nil {
		_ = l.f.Close()
		l.f, l.out = nil, nil
	}
	if err := l.openLocked(); err != nil {
		return err
	}
	if ferr != nil {
		return l.flushLocked()
	}
	return nil
}

// Close flushes and closes the file. Data that could not be written is reported, not kept.
func (l *lines) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.flushLocked()
	if l.f != nil {
		if cerr := l.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", l.name, cerr)
		}
		l.f, l.out = nil, nil
	}
	if err != nil && len(l.buf) > 0 {
		err = fmt.Errorf("%w (%d bytes not written)", err, len(l.buf))
	}
	l.buf = nil
	return err
}
