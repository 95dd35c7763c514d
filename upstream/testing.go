package upstream

import (
	"context"
	"time"
)

// TB is the part of testing.TB that NewTest and Await use; *testing.T and *testing.B satisfy
// it. It is declared here so that the daemon, which links this package for `demo`, does not
// link the testing package (`go list -deps ./daemon` must not list it).
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// AwaitTimeout bounds Await.
const AwaitTimeout = 30 * time.Second

// NewTest starts a server on 127.0.0.1:0 and closes it in t.Cleanup.
func NewTest(t TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start upstream: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close upstream: %v", err)
		}
	})
	return s
}

// Await fails t unless cond becomes true within AwaitTimeout; what names the condition in
// the failure. cond is re-checked on every change the server sees (see WaitFor). Call it
// from the test's goroutine.
func (s *Server) Await(t TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), AwaitTimeout)
	defer cancel()
	if err := s.WaitFor(ctx, cond); err != nil {
		t.Fatalf("upstream: waiting for %s: %v", what, err)
	}
}
