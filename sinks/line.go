package sinks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/rs/zerolog"

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
	log   zerolog.Logger
}

func newStdout(w io.Writer) *lines {
	return &lines{name: "stdout", out: w, limit: flushAt}
}

func newFile(path string, fsync bool, log zerolog.Logger) *lines {
	return &lines{name: path, path: path, fsync: fsync, limit: flushAt, sync: (*os.File).Sync, log: log}
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
		if err != nil && n > 0 && l.f != nil {
			// A short write (a full disk) ended inside a line: cut it off again, so the
			// file never holds half a line that a later append would extend.
			if whole := bytes.LastIndexByte(l.buf[:n], '\n') + 1; whole < n && cutTail(l.f, int64(n-whole)) == nil {
				n = whole
			}
		}
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

// openLocked opens the path for appending. A file whose last line has no newline (the
// process died, or the disk filled, in the middle of a write) has that partial line cut
// off first: the event in it was never reported done, so it comes again, whole.
func (l *lines) openLocked() error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("open %s: %w", l.path, err)
	}
	cut, err := partialTail(f)
	if err == nil && cut > 0 {
		err = cutTail(f, cut)
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("open %s: %w", l.path, err)
	}
	if cut > 0 {
		l.log.Warn().Str("path", l.path).Int64("bytes", cut).Msg("cut a partial last line")
	}
	l.f, l.out = f, f
	return nil
}

// partialTail returns the length of what follows the last newline of f: 0 when f is empty
// or ends in a newline.
func partialTail(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return 0, err // a device or a pipe has no tail to look at
	}
	size := fi.Size()
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && n < int(end-start) {
			return 0, fmt.Errorf("read tail: %w", err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return size - (start + int64(i) + 1), nil
		}
		end = start
	}
	return size, nil // not one newline: the whole file is a partial line
}

// cutTail truncates the last n bytes off f.
func cutTail(f *os.File, n int64) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	if !fi.Mode().IsRegular() || n > fi.Size() {
		return fmt.Errorf("truncate %s: cannot cut %d bytes", f.Name(), n)
	}
	if err := f.Truncate(fi.Size() - n); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
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
