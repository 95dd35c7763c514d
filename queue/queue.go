package queue

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"holdfast/config"
)

// Item is one queued message. ID 0 is never used for a stored item: messages refused by
// drop_newest are reported with ID 0.
type Item struct {
	ID   uint64    // increasing, also across restarts of a durable queue
	Data []byte    // the message bytes, exactly as pushed; shared, never modify
	At   time.Time // enqueue time, the base of TTL expiry
}

// Store persists a Queue's items. The Queue calls it from its own goroutine only.
type Store interface {
	// Update appends add (ids increasing, above every stored id) and deletes del, as one
	// atomic step that is durable when it returns. Deleting an absent id is not an error.
	Update(add []Item, del []uint64) error
	// Load returns every stored item in id order; used once, by New.
	Load() ([]Item, error)
	Close() error
}

// PushResult tells one pusher what happened to its messages.
type PushResult struct {
	IDs     []uint64 // ids of this request's messages that are queued, in order
	Dropped []Item   // evicted by drop_oldest, or refused by drop_newest (those with ID 0)
	Expired []Item   // past TTL and removed from the front to make room
	Depth   int      // queue length after the push
	Err     error    // PushAll only: this request was refused (ErrFull, ErrTooLarge); nil for Push
}

// Queue is a bounded FIFO of outbound messages with an optional durable Store. It is not
// safe for concurrent use: one actor owns it. Items leave only by Ack, AckUpTo, overflow
// eviction or TTL expiry. Every item is also kept in memory (bounded by max_bytes), so Len,
// Bytes and Peek never touch the store.
type Queue struct {
	maxMessages int
	maxBytes    int64
	overflow    config.Overflow
	ttl         time.Duration // 0: never expire
	store       Store         // nil: memory only

	items   []Item // items[head:] are queued, oldest first, ids increasing
	head    int
	bytes   int64
	nextID  uint64
	pending []uint64 // removed from memory but not yet from the store; sent with the next Update
}

// New builds a queue bounded by cfg and loads what store holds (nil store: memory only).
// Loaded items are kept even when they exceed the bounds (say, after max_messages was
// lowered); pushes then make room by the overflow policy. The Queue owns store and closes it.
func New(cfg config.QueueConfig, store Store) (*Queue, error) {
	switch {
	case cfg.MaxMessages <= 0:
		return nil, fmt.Errorf("new queue: max_messages must be positive, got %d", cfg.MaxMessages)
	case cfg.MaxBytes <= 0:
		return nil, fmt.Errorf("new queue: max_bytes must be positive, got %d", cfg.MaxBytes)
	case cfg.TTL.Duration < 0:
		return nil, fmt.Errorf("new queue: ttl must not be negative, got %v", cfg.TTL.Duration)
	}
	q := &Queue{
		maxMessages: cfg.MaxMessages,
		maxBytes:    int64(cfg.MaxBytes),
		overflow:    cfg.Overflow,
		ttl:         cfg.TTL.Duration,
		store:       store,
		nextID:      1,
	}
	switch q.overflow {
	case "":
		q.overflow = config.OverflowReject
	case config.OverflowReject, config.OverflowDropOldest, config.OverflowDropNewest:
	default:
		return nil, fmt.Errorf("new queue: unknown overflow %q", cfg.Overflow)
	}
	if store == nil {
		return q, nil
	}
	items, err := store.Load()
	if err != nil {
		return nil, fmt.Errorf("load queue: %w", err)
	}
	for i, it := range items {
		if it.ID == 0 || (i > 0 && it.ID <= items[i-1].ID) {
			return nil, fmt.Errorf("load queue: ids out of order at %d", it.ID)
		}
		q.bytes += int64(len(it.Data))
	}
	q.items = items
	if len(items) > 0 {
		q.nextID = items[len(items)-1].ID + 1
	}
	return q, nil
}

// Len is the number of queued items.
func (q *Queue) Len() int { return len(q.items) - q.head }

// Bytes is the sum of the queued items' data lengths.
func (q *Queue) Bytes() int64 { return q.bytes }

// Push queues msgs as one request: all of them or, by the overflow policy, an error
// (reject: ErrFull, nothing stored) or a report of what was dropped. A message larger than
// max_bytes refuses the whole request with ErrTooLarge under every policy. Expired items at
// the front are removed first. With a store, Push returns after the change is durable; a
// store error (wrapping it as "append to queue") means nothing changed.
// Push keeps the msgs slices; callers must not modify them afterwards.
func (q *Queue) Push(msgs [][]byte, now time.Time) (PushResult, error) {
	res, err := q.PushAll([][][]byte{msgs}, now)
	if err != nil {
		return PushResult{}, err
	}
	r := res[0]
	err, r.Err = r.Err, nil
	return r, err
}

// PushAll decides each request in reqs on its own, in order, as if pushed one after the
// other, and commits all accepted messages (and the evictions they cause) in one store
// transaction: the way an actor batches several callers' pushes into one fsync. A refused
// request has its Err set. Expired items removed first are reported in results[0].Expired.
// The returned error is a store error, in which case nothing changed for any request.
func (q *Queue) PushAll(reqs [][][]byte, now time.Time) ([]PushResult, error) {
	res := make([]PushResult, len(reqs))
	if len(reqs) == 0 {
		return res, nil
	}
	live := q.items[q.head:]

	// Plan on counters first; memory and store change only after the store accepted.
	gone := 0 // live[:gone] are removed (expired, then evicted)
	for gone < len(live) && q.expired(live[gone], now) {
		res[0].Expired = append(res[0].Expired, live[gone])
		gone++
	}
	cnt, size := len(live)-gone, q.bytes
	for _, it := range live[:gone] {
		size -= int64(len(it.Data))
	}
	type added struct {
		Item
		req int
	}
	var adds []added
	addHead := 0 // adds[:addHead] were evicted again by later messages of this batch
	next := q.nextID
	fits := func(n int) bool { return cnt < q.maxMessages && size+int64(n) <= q.maxBytes }

	for ri, msgs := range reqs {
		r := &res[ri]
		var total int64
		for _, m := range msgs {
			if int64(len(m)) > q.maxBytes {
				r.Err = fmt.Errorf("push message of %d bytes, max_bytes %d: %w", len(m), q.maxBytes, ErrTooLarge)
				break
			}
			total += int64(len(m))
		}
		if r.Err != nil {
			continue
		}
		if q.overflow == config.OverflowReject && (cnt+len(msgs) > q.maxMessages || size+total > q.maxBytes) {
			r.Err = fmt.Errorf("push %d messages (%d bytes) onto %d (%d bytes): %w", len(msgs), total, cnt, size, ErrFull)
			continue
		}
		for mi, m := range msgs {
			if q.overflow == config.OverflowDropNewest && !fits(len(m)) {
				for _, m := range msgs[mi:] { // this one and every newer one
					r.Dropped = append(r.Dropped, Item{Data: m, At: now})
				}
				break
			}
			for !fits(len(m)) { // drop_oldest; reject and drop_newest never get here
				var ev Item
				if gone < len(live) {
					ev = live[gone]
					gone++
				} else {
					ev = adds[addHead].Item
					addHead++
				}
				cnt--
				size -= int64(len(ev.Data))
				r.Dropped = append(r.Dropped, ev)
			}
			adds = append(adds, added{Item{ID: next, Data: m, At: now}, ri})
			next++
			cnt++
			size += int64(len(m))
		}
	}

	if q.store != nil {
		items := make([]Item, 0, len(adds)-addHead)
		for _, a := range adds[addHead:] {
			items = append(items, a.Item)
		}
		del := q.pending
		for _, it := range live[:gone] {
			del = append(del, it.ID)
		}
		if len(items) > 0 || len(del) > 0 {
			if err := q.store.Update(items, del); err != nil {
				return nil, fmt.Errorf("append to queue: %w", err)
			}
			q.pending = nil
		}
	}

	clear(live[:gone]) // let the removed data be collected before the next compaction
	q.head += gone
	q.bytes = size
	q.nextID = next
	for _, a := range adds[addHead:] {
		q.items = append(q.items, a.Item)
		res[a.req].IDs = append(res[a.req].IDs, a.ID)
	}
	q.compact()
	for i := range res {
		res[i].Depth = q.Len()
	}
	return res, nil
}

// Peek returns up to n of the oldest live items without removing them, and removes (and
// returns as expired) the expired items it passed on the way. Items stay queued until
// acked, so a second Peek returns the same items again; an actor with a window of items
// in flight uses PeekAfter. Peek never touches the store: the removal of expired items is
// written with the next Push, Ack or Close.
func (q *Queue) Peek(n int, now time.Time) (live, expired []Item) {
	return q.PeekAfter(0, n, now)
}

// PeekAfter is Peek for the items with ids above after (the last one in flight). Items at
// or before after are not checked for expiry: they were already sent.
func (q *Queue) PeekAfter(after uint64, n int, now time.Time) (live, expired []Item) {
	if n <= 0 {
		return nil, nil
	}
	start := q.searchAfter(after)
	if start == q.head { // the usual case: expired items at the front just move head
		for q.head < len(q.items) && q.expired(q.items[q.head], now) {
			expired = append(expired, q.remove(q.head))
			q.head++
		}
		start = q.head
	}
	items := q.items[start:]
	i, kept := 0, 0 // items[:kept] are the expired-free prefix rebuilt in place
	for ; i < len(items) && len(live) < n; i++ {
		it := items[i]
		if q.expired(it, now) { // only when the clock went back, or behind the window
			expired = append(expired, q.remove(start+i))
			continue
		}
		live = append(live, it)
		items[kept] = it
		kept++
	}
	if kept < i { // close the gap left by expired items; Item is small, so copying is cheap
		m := copy(items[kept:], items[i:])
		clear(items[kept+m:])
		q.items = q.items[:start+kept+m]
	}
	q.compact()
	return live, expired
}

// Ack removes the item id, whose write the connection confirmed. An id that is no longer
// queued (acked, expired or evicted meanwhile) returns ErrUnknownID. The item leaves memory
// at once; a store error is returned wrapped ("delete from queue") and the delete is retried
// with the next store update, so the item may be sent again after a restart.
func (q *Queue) Ack(id uint64) error {
	i := q.searchAfter(id - 1)
	if id == 0 || i == len(q.items) || q.items[i].ID != id {
		return fmt.Errorf("ack %d: %w", id, ErrUnknownID)
	}
	q.remove(i)
	if i == q.head {
		q.head++
	} else {
		copy(q.items[i:], q.items[i+1:])
		q.items[len(q.items)-1] = Item{}
		q.items = q.items[:len(q.items)-1]
	}
	q.compact()
	return q.flush()
}

// AckUpTo removes every item with an id up to and including id in one store transaction,
// the cheap way to ack a window. It returns how many were removed; store errors as Ack.
func (q *Queue) AckUpTo(id uint64) (int, error) {
	end := q.searchAfter(id)
	n := end - q.head
	if n == 0 {
		return 0, nil
	}
	for ; q.head < end; q.head++ {
		q.remove(q.head)
	}
	q.compact()
	return n, q.flush()
}

// Close writes pending deletes and closes the store.
func (q *Queue) Close() error {
	if q.store == nil {
		return nil
	}
	err := q.flush()
	return errors.Join(err, q.store.Close())
}

// flush deletes the pending ids from the store, keeping them pending on failure.
func (q *Queue) flush() error {
	if q.store == nil || len(q.pending) == 0 {
		return nil
	}
	if err := q.store.Update(nil, q.pending); err != nil {
		return fmt.Errorf("delete from queue: %w", err)
	}
	q.pending = q.pending[:0]
	return nil
}

func (q *Queue) expired(it Item, now time.Time) bool {
	return q.ttl > 0 && now.Sub(it.At) > q.ttl
}

// remove takes q.items[i] out of the accounting, schedules its delete from the store and
// clears the slot (so its data can be collected); the caller closes the gap.
func (q *Queue) remove(i int) Item {
	it := q.items[i]
	q.bytes -= int64(len(it.Data))
	if q.store != nil {
		q.pending = append(q.pending, it.ID)
	}
	q.items[i] = Item{}
	return it
}

// searchAfter returns the index in q.items of the first queued item with an id above id.
func (q *Queue) searchAfter(id uint64) int {
	live := q.items[q.head:]
	return q.head + sort.Search(len(live), func(i int) bool { return live[i].ID > id })
}

// compact drops the consumed front once it is at least half the slice, keeping appends
// amortized O(1) and letting acked data be collected.
func (q *Queue) compact() {
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		return
	}
	if q.head >= 64 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}
