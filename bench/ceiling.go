package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gorilla/websocket"
)

// subscribeFrame is the same subscription holdfast's bench stream sends.
const subscribeFrame = `{"type":"subscribe","channel":"processing"}`

// ceiling is the baseline: one gorilla/websocket read loop that appends every frame and a
// newline to a file through a 64 KiB bufio.Writer (holdfast's file sink also writes in
// chunks of up to 64 KiB). flushEach flushes after every frame, for latency runs, so the
// baseline's latency has no batching in it.
type ceiling struct {
	done chan struct{}
	err  error
	sock *websocket.Conn
}

func startCeiling(ctx context.Context, url, path string, n int, flushEach bool) (*ceiling, error) {
	d := websocket.Dialer{ReadBufferSize: 32 << 10, WriteBufferSize: 16 << 10} // as holdfast dials
	sock, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("ceiling dial: %w", err)
	}
	if err := sock.WriteMessage(websocket.TextMessage, []byte(subscribeFrame)); err != nil {
		_ = sock.Close()
		return nil, fmt.Errorf("ceiling subscribe: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		_ = sock.Close()
		return nil, fmt.Errorf("ceiling open: %w", err)
	}
	c := &ceiling{done: make(chan struct{}), sock: sock}
	go func() {
		defer close(c.done)
		c.err = readLoop(sock, f, n, flushEach)
		if cerr := f.Close(); c.err == nil && cerr != nil {
			c.err = fmt.Errorf("ceiling close: %w", cerr)
		}
	}()
	return c, nil
}

// readLoop copies n frames to f without allocating per byte: the loop itself should cost
// as little as a client can.
func readLoop(sock *websocket.Conn, f *os.File, n int, flushEach bool) error {
	w := bufio.NewWriterSize(f, 64<<10)
	buf := make([]byte, 32<<10)
	for i := 0; i < n; i++ {
		_, r, err := sock.NextReader()
		if err != nil {
			return fmt.Errorf("ceiling read: %w", err)
		}
		for {
			m, err := r.Read(buf)
			_, _ = w.Write(buf[:m]) // a write error sticks in w and surfaces at Flush
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("ceiling read: %w", err)
			}
		}
		_ = w.WriteByte('\n')
		if flushEach {
			if err := w.Flush(); err != nil {
				return fmt.Errorf("ceiling write: %w", err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("ceiling write: %w", err)
	}
	return nil
}

// stop closes the socket (ending a loop that is still reading) and waits for the loop.
func (c *ceiling) stop() error {
	_ = c.sock.Close()
	<-c.done
	return c.err
}
