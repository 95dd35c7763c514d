package upstream

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// coalesceMax is the largest write the coalescer makes out of queued frames.
const coalesceMax = 64 << 10

// coalescer is the socket under a connection's websocket.Conn. While the writer has more
// frames queued (more is set), the frames gorilla writes are collected and go out together
// in writes of up to coalesceMax bytes, as a busy server's would; otherwise every write goes
// out at once, so a feed that is not backed up keeps its latency.
//
// gorilla serializes its own writes (data and control frames) and sets the deadline right
// before each, so every write to the socket normally happens inside one of its writes, under
// its lock and deadline. The one exception is flush, which the writer calls before it waits.
type coalescer struct {
	net.Conn
	more atomic.Bool // set by the writer around a data frame when another one is queued

	mu       sync.Mutex
	buf      []byte    // frames not yet written; nil while empty
	deadline time.Time // the socket's write deadline, as last set
	writes   int       // writes to the socket, for tests
}

// SetWriteDeadline passes a change on to the socket. gorilla sets the deadline before every
// frame, and resetting an unchanged one costs a timer update each time.
func (c *coalescer) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Equal(c.deadline) {
		return nil
	}
	c.deadline = t
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets both deadlines, keeping track of the write one.
func (c *coalescer) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

// Write takes one frame (or part of one) from gorilla.
func (c *coalescer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	more := c.more.Load()
	if len(c.buf) > 0 && (len(c.buf)+len(p) > coalesceMax || !more) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if !more || len(p) >= coalesceMax {
		c.writes++
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = make([]byte, 0, coalesceMax)
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// flush writes what is collected; the writer calls it before it waits for more frames.
func (c *coalescer) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *coalescer) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	c.writes++
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if err != nil {
		return fmt.Errorf("coalesced write: %w", err)
	}
	return nil
}

// hijacker hands the upgrader a coalescer instead of the raw socket.
type hijacker struct {
	http.ResponseWriter
	sock *coalescer // set by Hijack
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("hijack: %T is not an http.Hijacker", h.ResponseWriter)
	}
	nc, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.sock = &coalescer{Conn: nc}
	return h.sock, rw, nil
}
