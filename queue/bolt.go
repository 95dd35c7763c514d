package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	berrors "go.etcd.io/bbolt/errors"
)

const (
	boltBucket      = "queue"
	boltOpenTimeout = time.Second // how long to wait for another process's lock on the file
	boltFileMode    = 0o600
)

// BoltStore is a durable Store in one bbolt file. Keys are big-endian item ids; values are
// the enqueue time (big-endian Unix nanoseconds, 8 bytes) followed by the data. Every
// Update is one fsynced transaction. Safe for use from one goroutine at a time.
type BoltStore struct {
	db *bolt.DB
}

// OpenBolt opens or creates the queue file at path (mode 0600; its directory must exist).
// The file is locked while open: a second open, from this or another process, fails after
// 1s with an error saying so.
func OpenBolt(path string) (*BoltStore, error) {
	opts := *bolt.DefaultOptions
	opts.Timeout = boltOpenTimeout
	db, err := bolt.Open(path, boltFileMode, &opts)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open queue %s: file is locked by another process (another daemon on this state_dir?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(boltBucket))
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// Update implements Store: deletes, then appends, in one transaction.
func (s *BoltStore) Update(add []Item, del []uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(boltBucket))
		var k [8]byte
		for _, id := range del {
			binary.BigEndian.PutUint64(k[:], id)
			if err := b.Delete(k[:]); err != nil {
				return err
			}
		}
		if len(add) == 0 {
			return nil
		}
		b.FillPercent = 0.95 // keys only ever grow: pack pages instead of splitting in half
		// bbolt keeps keys and values until commit, so they get one buffer of their own.
		n := 0
		for _, it := range add {
			n += 16 + len(it.Data)
		}
		buf := make([]byte, n)
		for _, it := range add {
			key, val := buf[:8], buf[8:16+len(it.Data)]
			buf = buf[16+len(it.Data):]
			binary.BigEndian.PutUint64(key, it.ID)
			binary.BigEndian.PutUint64(val, uint64(it.At.UnixNano()))
			copy(val[8:], it.Data)
			if err := b.Put(key, val); err != nil {
				return err
			}
		}
		return nil
	})
}

// Load implements Store.
func (s *BoltStore) Load() ([]Item, error) {
	var items []Item
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(boltBucket))
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 || len(v) < 8 {
				return fmt.Errorf("corrupt entry: key %x, %d value bytes", k, len(v))
			}
			items = append(items, Item{
				ID:   binary.BigEndian.Uint64(k),
				Data: append([]byte(nil), v[8:]...), // v lives only as long as the transaction
				At:   time.Unix(0, int64(binary.BigEndian.Uint64(v))),
			})
			return nil
		})
	})
	return items, err
}

// Close implements Store and releases the file lock.
func (s *BoltStore) Close() error {
	return s.db.Close()
}
