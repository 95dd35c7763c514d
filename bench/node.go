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
// newline to a file: bench/testdata/node/client.mjs. It gathers the frames of one turn of the
// event loop into one write of up to 64 KiB, as holdfast's file sink does. It needs node on
// PATH and `npm ci` run in its directory; without them its rows are skipped, saying why.
const TargetNode = "node"

// TargetNodePlain is the Node.js client the way the issue that set the targets describes it,
// and the way a user writes it: ws under reconnecting-websocket, one write-stream write per
// frame (client-plain.mjs). Compression is off in both clients, as it is in holdfast.
const TargetNodePlain = "node-plain"

// nodeClients are the Node.js targets: their script and the npm packages it imports.
var nodeClients = map[string]struct {
	script  string
	modules []string
}{
	TargetNode:      {"client.mjs", []string{"ws"}},
	TargetNodePlain: {"client-plain.mjs", []string{"ws", "reconnecting-websocket"}},
}

// IsNode reports whether target is one of the Node.js clients.
func IsNode(target string) bool {
	_, ok := nodeClients[target]
	return ok
}

// DefaultNodeDir is where the Node.js clients live, relative to the repository root.
const DefaultNodeDir = "bench/testdata/node"

// NodeMissing says why the Node.js client target cannot run from dir ("" when it can).
func NodeMissing(dir, target string) string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not installed"
	}
	c := nodeClients[target]
	if _, err := os.Stat(filepath.Join(dir, c.script)); err != nil {
		return fmt.Sprintf("no %s in %s (run the bench from the repository root or set --node-dir)", c.script, dir)
	}
	for _, m := range c.modules {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", m)); err != nil {
			return fmt.Sprintf("%s is not installed: run `npm ci` in %s", m, dir)
		}
	}
	return ""
}

// nodeClient is a running Node.js client. Its CPU time and peak RSS are known once it has exited.
type nodeClient struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	cpu  time.Duration
	rss  int64 // peak RSS, bytes
}

func startNode(ctx context.Context, dir, target, url, path string, n int) (*nodeClient, error) {
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, nodeClients[target].script), url, path, strconv.Itoa(n))
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
