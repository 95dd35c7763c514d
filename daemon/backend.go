package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"holdfast/control"
	"holdfast/messages"
	"holdfast/supervisor"
)

// enqueueTimeout bounds a control API send; a durable queue answers after its fsync.
const enqueueTimeout = 10 * time.Second

// backend is the control API's view of the actor system.
type backend struct {
	sys     *actor.ActorSystem
	root    *actor.PID
	streams *atomic.Pointer[map[string]bool] // replaced on reload
}

func (b *backend) Status(ctx context.Context) (*messages.Status, error) {
	res, err := b.request(ctx, b.root, &messages.GetStatus{}, supervisor.StatusTimeout)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	st, ok := res.(*messages.Status)
	if !ok {
		return nil, fmt.Errorf("status: unexpected reply %T", res)
	}
	return st, nil
}

func (b *backend) Ping(ctx context.Context) error {
	_, err := b.Status(ctx)
	return err
}

func (b *backend) Enqueue(ctx context.Context, stream string, msgs [][]byte) (int, error) {
	if !(*b.streams.Load())[stream] {
		return 0, fmt.Errorf("stream %q: %w", stream, control.ErrUnknownStream)
	}
	res, err := b.request(ctx, supervisor.QueuePID(b.root, stream), &messages.Enqueue{Messages: msgs}, enqueueTimeout)
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	r, ok := res.(*messages.Enqueued)
	if !ok {
		return 0, fmt.Errorf("enqueue: unexpected reply %T", res)
	}
	return r.Depth, r.Err
}

// request asks pid and waits for the answer, the context, or timeout, whichever is first.
func (b *backend) request(ctx context.Context, pid *actor.PID, msg any, timeout time.Duration) (any, error) {
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	return b.sys.Root.RequestFuture(pid, msg, timeout).Result()
}
