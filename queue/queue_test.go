package queue

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"holdfast/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Unix(1_700_000_000, 0)

func qcfg(maxMessages int, maxBytes int64, overflow config.Overflow, ttl time.Duration) config.QueueConfig {
	return config.QueueConfig{MaxMessages: maxMessages, MaxBytes: config.Size(maxBytes), Overflow: overflow, TTL: config.Duration{Duration: ttl}}
}

func bs(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, m := range s {
		out[i] = []byte(m)
	}
	return out
}

func datas(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it.Data)
	}
	return out
}

func ids(items []Item) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// stores runs f against a memory-only queue and a bbolt-backed one.
func stores(t *testing.T, f func(t *testing.T, open func(config.QueueConfig) *Queue)) {
	t.Run("memory", func(t *testing.T) {
		f(t, func(cfg config.QueueConfig) *Queue {
			q, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			return q
		})
	})
	t.Run("bolt", func(t *testing.T) {
		f(t, func(cfg config.QueueConfig) *Queue {
			return openQueue(t, filepath.Join(t.TempDir(), "q.db"), cfg)
		})
	})
}

// openQueue opens a bolt-backed queue that is closed in t.Cleanup (closing twice is harmless).
func openQueue(t *testing.T, path string, cfg config.QueueConfig) *Queue {
	t.Helper()
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := New(cfg, s)
	if err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func all(q *Queue, now time.Time) []string {
	live, _ := q.Peek(q.Len()+1, now)
	return datas(live)
}

func TestPushKeepsOrder(t *testing.T) {
	stores(t, func(t *testing.T, open func(config.QueueConfig) *Queue) {
		q := open(qcfg(100, 1000, "", 0))
		for _, batch := range [][]string{{"a"}, {"b", "c", "d"}, {}, {"e"}} {
			if _, err := q.Push(bs(batch...), t0); err != nil {
				t.Fatalf("Push(%q): %v", batch, err)
			}
		}
		live, expired := q.Peek(10, t0)
		if got, want := datas(live), []string{"a", "b", "c", "d", "e"}; !slices.Equal(got, want) || expired != nil {
			t.Errorf("Peek = %q (expired %v), want %q", got, expired, want)
		}
		if got, want := ids(live), []uint64{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
			t.Errorf("ids = %v, want %v", got, want)
		}
		if q.Len() != 5 || q.Bytes() != 5 {
			t.Errorf("Len, Bytes = %d, %d, want 5, 5", q.Len(), q.Bytes())
		}
		if live, _ := q.Peek(2, t0); !slices.Equal(datas(live), []string{"a", "b"}) {
			t.Errorf("Peek(2) = %q, want [a b]", datas(live))
		}
	})
}

func TestPushOverflow(t *testing.T) {
	for _, tt := range []struct {
		name        string
		cfg         config.QueueConfig
		pre         []string // pushed one by one first
		push        []string
		wantErr     error
		wantQueued  []string
		wantDropped []string
		wantIDs     []uint64 // ids the push reports as queued
	}{
		{"reject fits", qcfg(3, 100, "reject", 0), []string{"a"}, []string{"b", "c"}, nil, []string{"a", "b", "c"}, nil, []uint64{2, 3}},
		{"reject by count refuses the whole batch", qcfg(3, 100, "reject", 0), []string{"a", "b"}, []string{"c", "d"}, ErrFull, []string{"a", "b"}, nil, nil},
		{"reject by bytes refuses the whole batch", qcfg(10, 10, "reject", 0), []string{"aaaa"}, []string{"bbb", "cccc"}, ErrFull, []string{"aaaa"}, nil, nil},
		{"default policy is reject", qcfg(1, 100, "", 0), []string{"a"}, []string{"b"}, ErrFull, []string{"a"}, nil, nil},
		{"drop_oldest by count", qcfg(3, 100, "drop_oldest", 0), []string{"a", "b", "c"}, []string{"d", "e"}, nil, []string{"c", "d", "e"}, []string{"a", "b"}, []uint64{4, 5}},
		{"drop_oldest by bytes", qcfg(10, 10, "drop_oldest", 0), []string{"aaaa", "bbbb"}, []string{"cccccc"}, nil, []string{"bbbb", "cccccc"}, []string{"aaaa"}, []uint64{3}},
		{"drop_oldest batch larger than the queue", qcfg(2, 100, "drop_oldest", 0), []string{"a"}, []string{"b", "c", "d"}, nil, []string{"c", "d"}, []string{"a", "b"}, []uint64{3, 4}},
		{"drop_newest by count", qcfg(3, 100, "drop_newest", 0), []string{"a", "b"}, []string{"c", "d", "e"}, nil, []string{"a", "b", "c"}, []string{"d", "e"}, []uint64{3}},
		{"drop_newest drops the tail even if a later one would fit", qcfg(10, 10, "drop_newest", 0), []string{"aaaa"}, []string{"bbbbbbb", "c"}, nil, []string{"aaaa"}, []string{"bbbbbbb", "c"}, nil},
		{"too large under reject", qcfg(10, 4, "reject", 0), nil, []string{"ok", "large"}, ErrTooLarge, []string{}, nil, nil},
		{"too large under drop_oldest", qcfg(10, 4, "drop_oldest", 0), []string{"a"}, []string{"large"}, ErrTooLarge, []string{"a"}, nil, nil},
		{"too large under drop_newest", qcfg(10, 4, "drop_newest", 0), []string{"a"}, []string{"b", "large"}, ErrTooLarge, []string{"a"}, nil, nil},
		{"exactly max_bytes fits", qcfg(10, 4, "reject", 0), nil, []string{"four"}, nil, []string{"four"}, nil, []uint64{1}},
		{"empty message counts but has no bytes", qcfg(2, 1, "reject", 0), []string{"a"}, []string{""}, nil, []string{"a", ""}, nil, []uint64{2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stores(t, func(t *testing.T, open func(config.QueueConfig) *Queue) {
				q := open(tt.cfg)
				for _, m := range tt.pre {
					if _, err := q.Push(bs(m), t0); err != nil {
						t.Fatalf("pre Push(%q): %v", m, err)
					}
				}
				res, err := q.Push(bs(tt.push...), t0)
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("Push(%q) err = %v, want %v", tt.push, err, tt.wantErr)
				}
				if got := all(q, t0); !slices.Equal(got, tt.wantQueued) {
					t.Errorf("queued %q, want %q", got, tt.wantQueued)
				}
				if got := datas(res.Dropped); !slices.Equal(got, tt.wantDropped) && len(got)+len(tt.wantDropped) > 0 {
					t.Errorf("dropped %q, want %q", got, tt.wantDropped)
				}
				if !slices.Equal(res.IDs, tt.wantIDs) {
					t.Errorf("IDs %v, want %v", res.IDs, tt.wantIDs)
				}
				if err == nil && res.Depth != len(tt.wantQueued) {
					t.Errorf("Depth %d, want %d", res.Depth, len(tt.wantQueued))
				}
				var size int64
				for _, m := range tt.wantQueued {
					size += int64(len(m))
				}
				if q.Len() != len(tt.wantQueued) || q.Bytes() != size {
					t.Errorf("Len, Bytes = %d, %d, want %d, %d", q.Len(), q.Bytes(), len(tt.wantQueued), size)
				}
			})
		})
	}
}

func TestDroppedItemsCarryTheirIDs(t *testing.T) {
	q, _ := New(qcfg(2, 100, "drop_oldest", 0), nil)
	_, _ = q.Push(bs("a", "b"), t0)
	res, err := q.Push(bs("c"), t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Dropped) != 1 || res.Dropped[0].ID != 1 || !res.Dropped[0].At.Equal(t0) {
		t.Errorf("Dropped = %+v, want item 1 enqueued at t0", res.Dropped)
	}
	q, _ = New(qcfg(1, 100, "drop_newest", 0), nil)
	_, _ = q.Push(bs("a"), t0)
	if res, _ := q.Push(bs("b"), t0); len(res.Dropped) != 1 || res.Dropped[0].ID != 0 {
		t.Errorf("drop_newest Dropped = %+v, want one item with ID 0", res.Dropped)
	}
}

func TestPushAllDecidesEachRequest(t *testing.T) {
	for _, tt := range []struct {
		name       string
		cfg        config.QueueConfig
		reqs       [][]string
		wantErrs   []error
		wantIDs    [][]uint64
		wantDrop   [][]string
		wantQueued []string
	}{
		{
			"reject refuses only the request that does not fit",
			qcfg(4, 100, "reject", 0),
			[][]string{{"a", "b"}, {"c", "d", "e"}, {"f"}, {strings.Repeat("x", 101)}},
			[]error{nil, ErrFull, nil, ErrTooLarge},
			[][]uint64{{1, 2}, nil, {3}, nil},
			[][]string{nil, nil, nil, nil},
			[]string{"a", "b", "f"},
		},
		{
			"drop_oldest evicts an earlier request's messages",
			qcfg(2, 100, "drop_oldest", 0),
			[][]string{{"a", "b"}, {"c"}},
			[]error{nil, nil},
			[][]uint64{{2}, {3}}, // a was queued, then evicted within the same commit
			[][]string{nil, {"a"}},
			[]string{"b", "c"},
		},
		{
			"drop_newest decides each request afresh",
			qcfg(10, 5, "drop_newest", 0),
			[][]string{{"aaa", "bbb"}, {"cc"}},
			[]error{nil, nil},
			[][]uint64{{1}, {2}},
			[][]string{{"bbb"}, nil},
			[]string{"aaa", "cc"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs := &countingStore{}
			q, err := New(tt.cfg, cs)
			if err != nil {
				t.Fatal(err)
			}
			reqs := make([][][]byte, len(tt.reqs))
			for i, r := range tt.reqs {
				reqs[i] = bs(r...)
			}
			res, err := q.PushAll(reqs, t0)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if !errors.Is(r.Err, tt.wantErrs[i]) || (r.Err == nil) != (tt.wantErrs[i] == nil) {
					t.Errorf("request %d: Err = %v, want %v", i, r.Err, tt.wantErrs[i])
				}
				if !slices.Equal(r.IDs, tt.wantIDs[i]) {
					t.Errorf("request %d: IDs = %v, want %v", i, r.IDs, tt.wantIDs[i])
				}
				if got := datas(r.Dropped); len(got)+len(tt.wantDrop[i]) > 0 && !slices.Equal(got, tt.wantDrop[i]) {
					t.Errorf("request %d: Dropped = %q, want %q", i, got, tt.wantDrop[i])
				}
				if r.Depth != len(tt.wantQueued) {
					t.Errorf("request %d: Depth = %d, want %d", i, r.Depth, len(tt.wantQueued))
				}
			}
			if got := all(q, t0); !slices.Equal(got, tt.wantQueued) {
				t.Errorf("queued %q, want %q", got, tt.wantQueued)
			}
			if cs.updates != 1 {
				t.Errorf("store updates = %d, want 1 (one transaction for the batch)", cs.updates)
			}
		})
	}
}

func TestTTL(t *testing.T) {
	stores(t, func(t *testing.T, open func(config.QueueConfig) *Queue) {
		q := open(qcfg(3, 100, "reject", 10*time.Second))
		for i, m := range []string{"a", "b", "c"} {
			if _, err := q.Push(bs(m), t0.Add(time.Duration(i)*5*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		// a is exactly 10s old: not yet older than the TTL.
		if live, expired := q.Peek(1, t0.Add(10*time.Second)); !slices.Equal(datas(live), []string{"a"}) || expired != nil {
			t.Errorf("at ttl: live %q expired %q, want [a] []", datas(live), datas(expired))
		}
		live, expired := q.Peek(1, t0.Add(12*time.Second))
		if !slices.Equal(datas(live), []string{"b"}) || !slices.Equal(datas(expired), []string{"a"}) {
			t.Errorf("after ttl: live %q expired %q, want [b] [a]", datas(live), datas(expired))
		}
		if err := q.Ack(expired[0].ID); !errors.Is(err, ErrUnknownID) {
			t.Errorf("Ack(expired) = %v, want ErrUnknownID", err)
		}
		// The queue is full; pushing late expires b and c from the front to make room.
		res, err := q.Push(bs("d", "e"), t0.Add(30*time.Second))
		if err != nil {
			t.Fatalf("Push after expiry: %v", err)
		}
		if !slices.Equal(datas(res.Expired), []string{"b", "c"}) {
			t.Errorf("Push Expired %q, want [b c]", datas(res.Expired))
		}
		if got := all(q, t0.Add(30*time.Second)); !slices.Equal(got, []string{"d", "e"}) || q.Bytes() != 2 {
			t.Errorf("queued %q (%d bytes), want [d e] (2 bytes)", got, q.Bytes())
		}
	})
}

func TestTTLClockWentBack(t *testing.T) {
	q, _ := New(qcfg(10, 100, "reject", 10*time.Second), nil)
	_, _ = q.Push(bs("a"), t0.Add(5*time.Second))
	_, _ = q.Push(bs("b"), t0) // enqueued "earlier": the clock was stepped back
	_, _ = q.Push(bs("c"), t0.Add(5*time.Second))
	live, expired := q.Peek(10, t0.Add(12*time.Second))
	if !slices.Equal(datas(live), []string{"a", "c"}) || !slices.Equal(datas(expired), []string{"b"}) {
		t.Errorf("live %q expired %q, want [a c] [b]", datas(live), datas(expired))
	}
	if q.Len() != 2 || q.Bytes() != 2 {
		t.Errorf("Len, Bytes = %d, %d, want 2, 2", q.Len(), q.Bytes())
	}
}

func TestPeekAfterWindow(t *testing.T) {
	q, _ := New(qcfg(10, 100, "reject", 10*time.Second), nil)
	for i, m := range []string{"a", "b", "c", "d"} {
		_, _ = q.Push(bs(m), t0.Add(time.Duration(i)*time.Second))
	}
	w, _ := q.Peek(2, t0)
	if !slices.Equal(ids(w), []uint64{1, 2}) {
		t.Fatalf("Peek(2) ids %v, want [1 2]", ids(w))
	}
	// a and b are in flight; at t0+12.5s a, b and c are past the TTL, but only c expires.
	live, expired := q.PeekAfter(2, 2, t0.Add(12500*time.Millisecond))
	if !slices.Equal(ids(live), []uint64{4}) || !slices.Equal(ids(expired), []uint64{3}) {
		t.Errorf("PeekAfter(2) live %v expired %v, want [4] [3]", ids(live), ids(expired))
	}
	if live, expired := q.PeekAfter(math.MaxUint64, 2, t0); live != nil || expired != nil {
		t.Errorf("PeekAfter(max) = %v, %v, want nothing", live, expired)
	}
	for _, id := range []uint64{1, 2, 4} {
		if err := q.Ack(id); err != nil {
			t.Errorf("Ack(%d): %v", id, err)
		}
	}
	if q.Len() != 0 || q.Bytes() != 0 {
		t.Errorf("Len, Bytes = %d, %d, want 0, 0", q.Len(), q.Bytes())
	}
	if live, expired := q.Peek(5, t0); live != nil || expired != nil {
		t.Errorf("Peek on empty = %v, %v", live, expired)
	}
}

func TestAck(t *testing.T) {
	stores(t, func(t *testing.T, open func(config.QueueConfig) *Queue) {
		q := open(qcfg(10, 100, "reject", 0))
		_, _ = q.Push(bs("a", "bb", "ccc", "dddd", "e"), t0)
		steps := []struct {
			name    string
			ack     func() error
			wantErr error
			want    []string
		}{
			{"front", func() error { return q.Ack(1) }, nil, []string{"bb", "ccc", "dddd", "e"}},
			{"twice", func() error { return q.Ack(1) }, ErrUnknownID, []string{"bb", "ccc", "dddd", "e"}},
			{"never pushed", func() error { return q.Ack(99) }, ErrUnknownID, []string{"bb", "ccc", "dddd", "e"}},
			{"out of order", func() error { return q.Ack(3) }, nil, []string{"bb", "dddd", "e"}},
			{"up to a gap", func() error { _, err := q.AckUpTo(3); return err }, nil, []string{"dddd", "e"}},
			{"up to below the front", func() error { _, err := q.AckUpTo(1); return err }, nil, []string{"dddd", "e"}},
			{"up to past the end", func() error { _, err := q.AckUpTo(math.MaxUint64); return err }, nil, []string{}},
		}
		for _, s := range steps {
			err := s.ack()
			if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
				t.Errorf("%s: err %v, want %v", s.name, err, s.wantErr)
			}
			if got := all(q, t0); !slices.Equal(got, s.want) {
				t.Errorf("%s: queued %q, want %q", s.name, got, s.want)
			}
			var size int64
			for _, m := range s.want {
				size += int64(len(m))
			}
			if q.Bytes() != size {
				t.Errorf("%s: Bytes %d, want %d", s.name, q.Bytes(), size)
			}
		}
		if n, _ := q.AckUpTo(5); n != 0 {
			t.Errorf("AckUpTo on empty = %d, want 0", n)
		}
	})
}

// TestLongRun pushes and acks many items to cover compaction of the front.
func TestLongRun(t *testing.T) {
	q, _ := New(qcfg(50, 1<<20, "reject", 0), nil)
	next := uint64(1)
	for i := range 2000 {
		if _, err := q.Push(bs("x"), t0); err != nil {
			t.Fatal(err)
		}
		if q.Len() < 10 && i%7 != 0 {
			continue
		}
		live, _ := q.Peek(2, t0)
		if live[0].ID != next {
			t.Fatalf("front %d, want %d", live[0].ID, next)
		}
		n, err := q.AckUpTo(live[len(live)-1].ID)
		if err != nil {
			t.Fatal(err)
		}
		next += uint64(n)
	}
	if want := 2000 - int(next-1); q.Len() != want || q.Bytes() != int64(want) {
		t.Errorf("Len, Bytes = %d, %d, want %d", q.Len(), q.Bytes(), want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  config.QueueConfig
		want string
	}{
		{"no max_messages", qcfg(0, 10, "reject", 0), "max_messages"},
		{"no max_bytes", qcfg(10, 0, "reject", 0), "max_bytes"},
		{"negative ttl", qcfg(10, 10, "reject", -time.Second), "ttl"},
		{"unknown overflow", qcfg(10, 10, "drop_random", 0), "overflow"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%+v) = %v, want an error about %s", tt.cfg, err, tt.want)
			}
		})
	}
}

// countingStore is a memory Store that counts updates and fails them on demand.
type countingStore struct {
	items   []Item
	updates int
	fail    error
	deleted []uint64 // every id passed to a successful Update
}

func (s *countingStore) Update(add []Item, del []uint64) error {
	if s.fail != nil {
		return s.fail
	}
	s.updates++
	s.deleted = append(s.deleted, del...)
	s.items = slices.DeleteFunc(s.items, func(it Item) bool { return slices.Contains(del, it.ID) })
	s.items = append(s.items, add...)
	return nil
}

func (s *countingStore) Load() ([]Item, error) { return slices.Clone(s.items), nil }
func (s *countingStore) Close() error          { return nil }

func TestStoreErrorChangesNothing(t *testing.T) {
	diskFull := errors.New("no space left on device")
	cs := &countingStore{}
	q, _ := New(qcfg(2, 100, "drop_oldest", time.Minute), cs)
	_, _ = q.Push(bs("a", "b"), t0)

	cs.fail = diskFull
	_, err := q.Push(bs("c"), t0.Add(2*time.Minute)) // would expire a and b, then add c
	if !errors.Is(err, diskFull) || !strings.HasPrefix(err.Error(), "append to queue: ") {
		t.Errorf("Push err = %v, want it to wrap the store error as 'append to queue: ...'", err)
	}
	if got := all(q, t0); !slices.Equal(got, []string{"a", "b"}) || q.Bytes() != 2 {
		t.Errorf("after a failed push: queued %q (%d bytes), want [a b]", got, q.Bytes())
	}

	// A failed ack removes the item from memory and retries the delete with the next update.
	err = q.Ack(1)
	if !errors.Is(err, diskFull) || !strings.HasPrefix(err.Error(), "delete from queue: ") {
		t.Errorf("Ack err = %v, want it to wrap the store error as 'delete from queue: ...'", err)
	}
	if q.Len() != 1 {
		t.Errorf("Len after failed ack = %d, want 1", q.Len())
	}
	cs.fail = nil
	res, err := q.Push(bs("c"), t0)
	if err != nil || !slices.Equal(res.IDs, []uint64{3}) {
		t.Fatalf("Push after recovery = %+v, %v, want id 3", res, err)
	}
	if !slices.Equal(cs.deleted, []uint64{1}) || !slices.Equal(ids(cs.items), []uint64{2, 3}) {
		t.Errorf("store deleted %v and holds %v, want [1] and [2 3]", cs.deleted, ids(cs.items))
	}
}

func TestLoadKeepsItemsOverTheBounds(t *testing.T) {
	cs := &countingStore{}
	q, _ := New(qcfg(10, 100, "reject", 0), cs)
	_, _ = q.Push(bs("a", "b", "c", "d"), t0)

	q, _ = New(qcfg(2, 100, "reject", 0), cs) // max_messages lowered across a restart
	if q.Len() != 4 {
		t.Fatalf("Len after load = %d, want 4", q.Len())
	}
	if _, err := q.Push(bs("e"), t0); !errors.Is(err, ErrFull) {
		t.Errorf("reject Push = %v, want ErrFull", err)
	}
	q, _ = New(qcfg(2, 100, "drop_oldest", 0), cs)
	res, err := q.Push(bs("e"), t0)
	if err != nil || !slices.Equal(datas(res.Dropped), []string{"a", "b", "c"}) || !slices.Equal(res.IDs, []uint64{5}) {
		t.Errorf("drop_oldest Push = %+v, %v, want a, b, c dropped and id 5", res, err)
	}
}
