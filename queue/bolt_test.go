package queue

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

func TestBoltReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	cfg := qcfg(100, 1<<20, "reject", time.Hour)
	payloads := [][]byte{[]byte("a"), {0, 0xff, '\n', 0}, {}, []byte(`{"type":"x"}`), []byte("e")}

	q := openQueue(t, path, cfg)
	for i, p := range payloads {
		if _, err := q.Push([][]byte{p}, t0.Add(time.Duration(i)*time.Second+7)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Ack(1); err != nil {
		t.Fatal(err)
	}
	if n, err := q.AckUpTo(2); n != 1 || err != nil {
		t.Fatalf("AckUpTo(2) = %d, %v", n, err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	q = openQueue(t, path, cfg)
	live, _ := q.Peek(10, t0)
	if got, want := ids(live), []uint64{3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("ids after reopen %v, want %v", got, want)
	}
	for i, it := range live {
		want := payloads[it.ID-1]
		if !bytes.Equal(it.Data, want) {
			t.Errorf("item %d data %q, want %q", it.ID, it.Data, want)
		}
		if at := t0.Add(time.Duration(i+2)*time.Second + 7); !it.At.Equal(at) {
			t.Errorf("item %d At %v, want %v", it.ID, it.At, at)
		}
	}
	if q.Bytes() != int64(len(payloads[3])+1) {
		t.Errorf("Bytes after reopen = %d", q.Bytes())
	}
	res, err := q.Push(bs("f"), t0)
	if err != nil || !slices.Equal(res.IDs, []uint64{6}) {
		t.Errorf("Push after reopen = %v, %v, want id 6 (ids continue)", res.IDs, err)
	}
}

// Expiry found by Peek reaches the file at Close even if nothing else is written.
func TestBoltExpiryPersistsAtClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	cfg := qcfg(100, 1<<20, "reject", time.Minute)
	q := openQueue(t, path, cfg)
	_, _ = q.Push(bs("old"), t0)
	_, _ = q.Push(bs("new"), t0.Add(time.Minute))
	if _, expired := q.Peek(1, t0.Add(90*time.Second)); len(expired) != 1 {
		t.Fatalf("expired %v, want [old]", datas(expired))
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openQueue(t, path, cfg)
	if got := all(q, t0); !slices.Equal(got, []string{"new"}) {
		t.Errorf("after reopen %q, want [new]", got)
	}
}

func TestBoltSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	s2, err := OpenBolt(path)
	if err == nil {
		_ = s2.Close()
		t.Fatal("second OpenBolt succeeded, want a lock error")
	}
	if !errors.Is(err, berrors.ErrTimeout) || !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want a timeout naming the file and saying it is locked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second open took %v, want about 1s", d)
	}
}

func TestBoltFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode&^0o600 != 0 {
		t.Errorf("mode %v, want at most 0600", mode)
	}
}

func TestBoltOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("not a dir"), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("x"), 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path string
		skip       bool
	}{
		{"parent is a file", filepath.Join(file, "q.db"), false},
		{"missing directory", filepath.Join(dir, "missing", "q.db"), false},
		{"read-only directory", filepath.Join(readOnly, "q.db"), os.Geteuid() == 0},
		{"not a bbolt file", garbage, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("root writes to read-only directories")
			}
			s, err := OpenBolt(tt.path)
			if err == nil {
				_ = s.Close()
				t.Fatalf("OpenBolt(%s) succeeded", tt.path)
			}
			if !strings.HasPrefix(err.Error(), "open queue "+tt.path+": ") {
				t.Errorf("err = %v, want it prefixed with the operation and path", err)
			}
		})
	}
}

func TestBoltPushAfterCloseErrors(t *testing.T) {
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"), qcfg(10, 100, "reject", 0))
	_, _ = q.Push(bs("a"), t0)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Push(bs("b"), t0); !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Errorf("Push after Close = %v, want ErrDatabaseNotOpen", err)
	}
	if q.Len() != 1 {
		t.Errorf("Len = %d, want 1: a failed push must not count", q.Len())
	}
}
