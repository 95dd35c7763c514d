package bench

import (
	"context"
	"runtime"
	"time"
)

// sleep waits d or until ctx ends. The bench measures real time, so it is its own clock.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func memStats() runtime.MemStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

func goroutines() int { return runtime.NumGoroutine() }
