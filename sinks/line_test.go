package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
)

func events(lines ...string) []messages.Event {
	evs := make([]messages.Event, len(lines))
	for i, l := range lines {
		evs[i] = messages.Event{Stream: "s", Type: "t", Offset: uint64(i + 1), Line: []byte(l)}
	}
	return evs
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  config.SinkConfig
	}{
		{"unknown kind", config.SinkConfig{Name: "x", Kind: "carrier-pigeon"}},
		{"file without path", config.SinkConfig{Name: "x", Kind: KindFile}},
		{"exec without command", config.SinkConfig{Name: "x", Kind: KindExec}},
		{"exec bad mode", config.SinkConfig{Name: "x", Kind: KindExec, Command: []string{"/bin/true"}, Mode: "batch"}},
		{"webhook bad url", config.SinkConfig{Name: "x", Kind: KindWebhook, URL: "ftp://host/x"}},
		{"webhook bad tls", config.SinkConfig{Name: "x", Kind: KindWebhook, URL: "http://h/", TLS: config.TLSConfig{CertFile: "c"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := New(tt.cfg, nil, zerolog.Nop()); err == nil {
				t.Errorf("New(%+v) = %T, want error", tt.cfg, s)
			}
		})
	}
}

func TestStdoutWritesOnFlush(t *testing.T) {
	var out bytes.Buffer
	s, err := New(config.SinkConfig{Name: "o", Kind: KindStdout}, &out, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), events(`{"a":1}`, `{"b":2}`)); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("before Flush got %q, want nothing", out.String())
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "{\"a\":1}\n{\"b\":2}\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFileAppends(t *testing.T) {
	dir := t.TempDir()
	existing, fresh := filepath.Join(dir, "existing.ndjson"), filepath.Join(dir, "fresh.ndjson")
	if err := os.WriteFile(existing, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{existing, fresh} {
		s, err := New(config.SinkConfig{Name: "f", Kind: KindFile, Path: path}, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), events("one", "two")); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := readFile(t, existing), "old\none\ntwo\n"; got != want {
		t.Errorf("existing file: got %q, want %q", got, want)
	}
	if got, want := readFile(t, fresh), "one\ntwo\n"; got != want {
		t.Errorf("fresh file: got %q, want %q", got, want)
	}
	st, err := os.Stat(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&^fileMode != 0 {
		t.Errorf("mode %v, want at most %v", perm, os.FileMode(fileMode))
	}
}

func TestFileFsync(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fsync bool
		want  int
	}{
		{"fsync on: once per flush with data", true, 2},
		{"fsync off: never", false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newFile(filepath.Join(t.TempDir(), "f"), tt.fsync, zerolog.Nop())
			syncs := 0
			s.sync = func(f *os.File) error { syncs++; return f.Sync() }
			for _, batch := range [][]messages.Event{events("a"), nil, events("b")} {
				if err := s.Write(context.Background(), batch); err != nil {
					t.Fatal(err)
				}
				if err := s.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if syncs != tt.want {
				t.Errorf("fsync=%v: %d syncs for 3 flushes (2 with data), want %d", tt.fsync, syncs, tt.want)
			}
		})
	}
}

func TestFileReopenAfterRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	s := newFile(path, false, zerolog.Nop())
	defer s.Close()
	ctx := context.Background()
	if err := s.Write(ctx, events("before")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil { // what logrotate does
		t.Fatal(err)
	}
	if err := s.Write(ctx, events("buffered")); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, events("after")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path+".1"), "before\nbuffered\n"; got != want {
		t.Errorf("rotated file: got %q, want %q", got, want)
	}
	if got, want := readFile(t, path), "after\n"; got != want {
		t.Errorf("new file: got %q, want %q", got, want)
	}
}

func TestFileDiskFullKeepsData(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	s := newFile("/dev/full", false, zerolog.Nop())
	s.limit = 16
	ctx := context.Background()
	if err := s.Write(ctx, events("first")); err != nil {
		t.Fatalf("Write into an empty buffer: %v", err)
	}
	err := s.Flush()
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "write /dev/full") {
		t.Fatalf("Flush: got %v, want write /dev/full: ENOSPC", err)
	}
	// The buffer is over its limit and cannot be written: Write refuses without taking the
	// new events, so the caller's retry adds them exactly once.
	if err := s.Write(ctx, events("second-line-is-long")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write over the limit: got %v, want ENOSPC", err)
	}
	if got, want := string(s.buf), "first\n"; got != want {
		t.Fatalf("buffer: got %q, want %q", got, want)
	}
	// The disk has room again (here: the path is moved somewhere writable).
	path := filepath.Join(t.TempDir(), "out")
	s.path, s.name = path, path
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, events("second-line-is-long")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path), "first\nsecond-line-is-long\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFileClosedUnderneathKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	s := newFile(path, true, zerolog.Nop())
	ctx := context.Background()
	if err := s.Write(ctx, events("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = s.f.Close() // the descriptor goes bad
	if err := s.Write(ctx, events("b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Flush on a closed file: got %v, want os.ErrClosed", err)
	}
	if err := s.Flush(); err == nil {
		t.Fatal("second Flush on a closed file: got nil, want error")
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path), "a\nb\n"; got != want {
		t.Errorf("got %q, want %q (b exactly once)", got, want)
	}
}

// Two sinks appending to one file never split each other's lines.
func TestFileSharedByTwoSinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared")
	const n = 400
	var wg sync.WaitGroup
	for w := range 2 {
		s := newFile(path, false, zerolog.Nop())
		s.limit = 512
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				line := fmt.Sprintf(`{"w":%d,"i":%d,"pad":%q}`, w, i, strings.Repeat("x", i%97))
				if err := s.Write(context.Background(), events(line)); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if err := s.Flush(); err != nil {
						t.Error(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n") {
		var w, i int
		var pad string
		if _, err := fmt.Sscanf(l, `{"w":%d,"i":%d,"pad":%q}`, &w, &i, &pad); err != nil || pad != strings.Repeat("x", i%97) {
			t.Fatalf("torn line %q", l)
		}
		seen[l] = true
	}
	if len(seen) != 2*n {
		t.Errorf("got %d distinct lines, want %d", len(seen), 2*n)
	}
}

// shortWriter writes the first n bytes it is given to w, then fails like a full disk.
type shortWriter struct {
	w io.Writer
	n int
}

func (s *shortWriter) Write(p []byte) (int, error) {
	k := min(len(p), s.n)
	s.n -= k
	n, err := s.w.Write(p[:k])
	if err == nil && n < len(p) {
		err = syscall.ENOSPC
	}
	return n, err
}

// A write that fails part-way through a line never leaves that half line in the file, and
// a later sink on the same path appends only whole lines.
func TestFileShortWriteLeavesWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	ctx := context.Background()
	s := newFile(path, false, zerolog.Nop())
	if err := s.Write(ctx, events("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.out = &shortWriter{w: s.f, n: len("two\nthr")} // the disk fills inside "three"
	if err := s.Write(ctx, events("two", "three")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Flush: got %v, want ENOSPC", err)
	}
	if got, want := readFile(t, path), "one\ntwo\n"; got != want {
		t.Fatalf("after the short write: file %q, want %q", got, want)
	}
	if got, want := string(s.buf), "three\n"; got != want {
		t.Fatalf("after the short write: buffer %q, want %q", got, want)
	}
	// Stopping while the disk is still full: the rest is reported lost, the file stays whole.
	if err := s.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close: got %v, want ENOSPC", err)
	}
	next := newFile(path, false, zerolog.Nop())
	if err := next.Write(ctx, events("three", "four")); err != nil {
		t.Fatal(err)
	}
	if err := next.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path), "one\ntwo\nthree\nfour\n"; got != want {
		t.Errorf("after restart: file %q, want %q", got, want)
	}
}

// A file left with a partial last line (a crash mid-write) gets that line cut on open, so
// the next event starts a line of its own.
func TestFileCutsPartialTailOnOpen(t *testing.T) {
	for _, tt := range []struct {
		name, before, want string
	}{
		{"partial tail", "{\"a\":1}\n{\"a\":2", "{\"a\":1}\nnext\n"},
		{"only a partial line", "{\"a\":", "next\n"},
		{"whole lines", "{\"a\":1}\n", "{\"a\":1}\nnext\n"},
		{"empty", "", "next\n"},
		{"long partial tail", "x\n" + strings.Repeat("y", 10000), "x\nnext\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out")
			if err := os.WriteFile(path, []byte(tt.before), 0o600); err != nil {
				t.Fatal(err)
			}
			s := newFile(path, false, zerolog.Nop())
			if err := s.Write(context.Background(), events("next")); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != tt.want {
				t.Errorf("file %.40q, then an event: got %.60q, want %q", tt.before, got, tt.want)
			}
		})
	}
}
