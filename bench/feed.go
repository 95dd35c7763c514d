package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"holdfast/upstream"
)

// throughputHistory is the upstream history kept in throughput runs: nothing replays there,
// and a full default history (100,000 events) would add tens of MB to the peak RSS measured.
const throughputHistory = 1000

// Feed is an embedded upstream that a measurement, or the parent of a `daemon bench` child,
// hosts. Up is the server itself, for the hooks (DropConnections, Freeze, …).
type Feed struct {
	Up *upstream.Server
}

// StartFeed starts an upstream on 127.0.0.1:0 whose events are padded to eventSize bytes
// (0 = natural size, about 150 B) and which keeps history events (0 = upstream's default).
func StartFeed(eventSize, history int) (*Feed, error) {
	up := upstream.New(upstream.Options{EventSize: eventSize, History: history, Seed: 1, Log: zerolog.Nop()})
	if err := up.Start("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start upstream: %w", err)
	}
	return &Feed{Up: up}, nil
}

// Run waits until subscribers connections have subscribed, then publishes n events (0 =
// until ctx ends) at rate per second (0 = as fast as the slowest subscriber reads). It
// returns how many it published.
func (f *Feed) Run(ctx context.Context, subscribers, rate, n int) (int, error) {
	if err := f.Up.WaitFor(ctx, func() bool { return f.Up.Subscribed() >= subscribers }); err != nil {
		return 0, err
	}
	return f.Up.Generate(ctx, rate, n), nil
}

// Close stops the upstream.
func (f *Feed) Close() error { return f.Up.Close() }

// SlowWebhook is a loopback HTTP receiver that takes Delay to answer each request: the slow
// sink of the slow-sink measurement.
type SlowWebhook struct {
	*httptest.Server
	requests atomic.Int64
}

// NewSlowWebhook starts the receiver; Close it when done.
func NewSlowWebhook(delay time.Duration) *SlowWebhook {
	w := &SlowWebhook{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		w.requests.Add(1)
		rw.WriteHeader(http.StatusNoContent)
	}))
	return w
}

// Requests counts answered requests (one event each with batch_max 1).
func (w *SlowWebhook) Requests() int64 { return w.requests.Load() }
