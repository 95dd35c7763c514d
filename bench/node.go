package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// TargetNode is a plain Node.js client (the ws package) that appends every frame and a
// newline to a file: bench/testdata/node/client.mjs. It needs node on PATH and `npm ci` run
// in its directory; without them its rows are skipped, saying why.
const TargetNode = "node"

// DefaultNodeDir is where the Node.js client lives, relative to the repository root.
const DefaultNodeDir = "bench/testdata/node"

// NodeMissing says why the Node.js client cannot run from dir ("" when it can).
func NodeMissing(dir string) string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not installed"
	}
	if _, err := os.Stat(filepath.Join(dir, "client.mjs")); err != nil {
		return fmt.Sprintf("no client.mjs in %s (run the bench from the repository root or set --node-dir)", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws")); err != nil {
		return fmt.Sprintf("ws is not installed: run `npm ci` in %s", dir)
	}
	return ""
}

// nodeClient is a running client.mjs. Its CPU time and peak RSS are known once it has exited.
type nodeClient struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	cpu  time.Duration
	rss  int64 // peak RSS, bytes
}

func startNode(ctx context.Context, dir, url, path string, n int) (*nodeClient, error) {
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "client.mjs"), url, path, strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node client: %w", err)
	}
	c := &nodeClient{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = cmd.Wait()
		if ps := cmd.ProcessState; ps != nil {
			c.cpu = ps.UserTime() + ps.SystemTime()
			if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
				c.rss = ru.Maxrss << 10 // kB on Linux
			}
		}
	}()
	return c, nil
}

// stop waits for the client, which exits by itself after its n frames, and kills it if it
// has not within a few seconds (it then failed).
func (c *nodeClient) stop() error {
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	var ee *exec.ExitError
	if c.err != nil && !errors.As(c.err, &ee) {
		return fmt.Errorf("node client: %w", c.err)
	}
	if c.err != nil {
		return fmt.Errorf("node client: %v", c.err)
	}
	return nil
}
