//go:build !linux

package bench

import "time"

// watcher polls where inotify is missing; the figures in BENCHMARKS.md come from Linux.
type watcher struct{}

func newWatcher(string) (*watcher, error) { return &watcher{}, nil }

func (*watcher) wait(d time.Duration) error {
	time.Sleep(min(d, time.Millisecond))
	return nil
}

func (*watcher) Close() error { return nil }
