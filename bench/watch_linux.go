package bench

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// watcher wakes on every write to a file in one directory (inotify), so a line is stamped
// when it reaches the file, not at the next tick of a poll.
type watcher struct {
	f   *os.File
	buf []byte
}

func newWatcher(dir string) (*watcher, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_MODIFY|syscall.IN_CREATE); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	// A non-blocking fd handed to os.NewFile joins the runtime poller, so reads honour deadlines.
	return &watcher{f: os.NewFile(uintptr(fd), "inotify"), buf: make([]byte, 64<<10)}, nil
}

// wait returns after the next change, or after d.
func (w *watcher) wait(d time.Duration) error {
	if err := w.f.SetReadDeadline(time.Now().Add(d)); err != nil {
		return fmt.Errorf("inotify deadline: %w", err)
	}
	_, err := w.f.Read(w.buf) // drains every queued event: one wake per batch of writes
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("inotify read: %w", err)
	}
	return nil
}

func (w *watcher) Close() error { return w.f.Close() }
