package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// tailer reads the complete lines appended to a file since its last read.
type tailer struct {
	path    string
	f       *os.File // nil until the file exists
	partial []byte   // a line whose newline has not been written yet
	buf     []byte
}

func newTailer(path string) *tailer { return &tailer{path: path, buf: make([]byte, 256<<10)} }

// read calls fn for every new complete line (without its newline), in order. The slice is
// valid only during the call.
func (t *tailer) read(fn func(line []byte)) error {
	if t.f == nil {
		f, err := os.Open(t.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", t.path, err)
		}
		t.f = f
	}
	for {
		n, err := t.f.Read(t.buf)
		data := t.buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				t.partial = append(t.partial, data...)
				break
			}
			if len(t.partial) > 0 {
				t.partial = append(t.partial, data[:i]...)
				fn(t.partial)
				t.partial = t.partial[:0]
			} else {
				fn(data[:i])
			}
			data = data[i+1:]
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", t.path, err)
		}
	}
}

func (t *tailer) Close() error {
	if t.f == nil {
		return nil
	}
	return t.f.Close()
}

// intField returns the integer after `"key":` in line; the first occurrence wins, and the
// envelope's own keys come before the message, so only message fields should be asked for.
func intField(line []byte, key string) (int64, bool) {
	i := bytes.Index(line, []byte(`"`+key+`":`))
	if i < 0 {
		return 0, false
	}
	rest := line[i+len(key)+3:]
	j := 0
	for j < len(rest) && (rest[j] == '-' || rest[j] >= '0' && rest[j] <= '9') {
		j++
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n, err == nil
}

// strField returns the string value after `"key":"` in line (no escapes expected).
func strField(line []byte, key string) (string, bool) {
	p := []byte(`"` + key + `":"`)
	i := bytes.Index(line, p)
	if i < 0 {
		return "", false
	}
	rest := line[i+len(p):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// sentAt is the upstream's send time of the event in line.
func sentAt(line []byte) (time.Time, bool) {
	ns, ok := intField(line, "sent_at")
	return time.Unix(0, ns), ok
}

// receivedAt is the envelope's received_at: when holdfast's reader (or poller) got the event.
func receivedAt(line []byte) (time.Time, bool) {
	s, ok := strField(line, "received_at")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// lastSeq returns the seq of the last complete line of the file at path, reading only its
// tail; tailSize must exceed one line. It is how throughput runs see the end without
// reading every byte while they are timed.
func lastSeq(f *os.File, tailSize int64, buf []byte) (int64, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("stat: %w", err)
	}
	size := st.Size()
	off := max(size-tailSize, 0)
	n, err := f.ReadAt(buf[:size-off], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, size, fmt.Errorf("read tail: %w", err)
	}
	b := buf[:n]
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return 0, size, nil
	}
	start := bytes.LastIndexByte(b[:end], '\n') + 1
	seq, _ := intField(b[start:end], "seq")
	return seq, size, nil
}

// scanFile counts the lines of path and returns the first line (copied).
func scanFile(path string) (lines int, first []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	first, err = r.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(first) > 0 && first[len(first)-1] == '\n' {
		lines = 1
	}
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		lines += bytes.Count(buf[:n], []byte{'\n'})
		if errors.Is(err, io.EOF) {
			return lines, first, nil
		}
		if err != nil {
			return lines, first, fmt.Errorf("read %s: %w", path, err)
		}
	}
}
