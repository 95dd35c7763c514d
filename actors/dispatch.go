package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// hotPath runs the mailboxes of the actors every event passes (router, sinks, cursor).
// protoactor's default dispatcher starts a goroutine each time an idle mailbox gets a
// message: under load that is once per batch per actor, and each new goroutine grows its
// stack again to the depth of the actor's Receive. This one hands the mailbox run to a
// goroutine that has just finished one and still has its stack.
var hotPath actor.Dispatcher = newReusingDispatcher(actorThroughput, workerIdle)

// actorThroughput is protoactor's default: messages a mailbox runs before it yields.
const actorThroughput = 300

// workerIdle is how long a finished goroutine waits for the next mailbox run before it
// exits. Short, so a quiet daemon holds no spare goroutines and tests find none left over.
const workerIdle = 100 * time.Millisecond

// reusingDispatcher is an actor.Dispatcher over goroutines that wait, briefly, for more.
// Schedule never blocks and never queues: a run goes to a waiting goroutine or to a new one,
// so a mailbox blocked on backpressure can never hold up another.
type reusingDispatcher struct {
	throughput int
	idle       time.Duration
	waiting    chan func()  // unbuffered: a send succeeds only into a goroutine waiting on it
	started    atomic.Int64 // goroutines started, for tests
	live       atomic.Int64 // goroutines not yet exited, for tests
}

func newReusingDispatcher(throughput int, idle time.Duration) *reusingDispatcher {
	return &reusingDispatcher{throughput: throughput, idle: idle, waiting: make(chan func())}
}

func (d *reusingDispatcher) Schedule(fn func()) {
	select {
	case d.waiting <- fn:
	default:
		d.started.Add(1)
		d.live.Add(1)
		go d.run(fn)
	}
}

func (d *reusingDispatcher) Throughput() int { return d.throughput }

func (d *reusingDispatcher) run(fn func()) {
	defer d.live.Add(-1)
	t := time.NewTimer(d.idle)
	defer t.Stop()
	for {
		fn()
		t.Reset(d.idle)
		select {
		case fn = <-d.waiting:
		case <-t.C:
			return
		}
	}
}
