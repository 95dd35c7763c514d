package actors_test

import (
	"testing"

	"go.uber.org/goleak"
)

// nats-server starts a goroutine per mirror consumer set-up that waits for the consumer's
// creation or its own timeout, with no way to stop it: a test that ends while a mirror of
// TestKVCursorsReadFromTheStreamLeader is being set up leaves it behind for a while.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*stream).setupMirrorConsumer.func3"))
}
