// Package testsupport holds small helpers shared by the tests of several packages. It imports
// only the standard library, so any package's tests can use it without an import cycle.
package testsupport

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Eventually polls cond every few milliseconds until it holds, and fails the test once limit
// has passed; what names the condition in the failure.
func Eventually(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond) // a poll interval inside a deadline, not a wait for an event
	}
}

// ProcessGone reports whether the process pid has exited: it no longer exists or is a zombie.
func ProcessGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(s[i+1:], " Z")
}

// NotifySocket opens a unixgram socket standing in for systemd's and points NOTIFY_SOCKET at
// it; the socket is closed in t.Cleanup.
func NotifySocket(t testing.TB) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "n.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

// NextDatagram returns the next datagram on conn, failing the test if none arrives within 30s
// (a generous bound: CI runs on two loaded cores).
func NextDatagram(t testing.TB, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	n, _, err := conn.ReadFromUnix(buf)
	if err != nil {
		t.Fatalf("read datagram: %v", err)
	}
	return string(buf[:n])
}
