package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrFenced is returned by KVCursors.Save for a stream whose lease this instance no longer
// holds: its last checkpoints must not overwrite the new owner's.
var ErrFenced = errors.New("lease lost: checkpoint not written")

// ErrNoBucket is returned by KVCursors before the Cluster actor has connected.
var ErrNoBucket = errors.New("cursor bucket not connected")

// kvCursorTimeout bounds one checkpoint read or write.
const kvCursorTimeout = 2 * time.Second

// KVCursors is the cursor store of cluster mode: one key per stream in the <bucket>_cursors
// bucket. The Cluster actor binds the bucket once connected and fences a stream the moment
// it stops owning it. Safe for concurrent use; the zero value is not usable, use
// NewKVCursors.
type KVCursors struct {
	mu    sync.Mutex
	kv    jetstream.KeyValue // nil until Bind
	owned map[string]bool    // streams whose checkpoints may be written
}

// NewKVCursors returns an unbound store in which every stream is fenced.
func NewKVCursors() *KVCursors { return &KVCursors{owned: map[string]bool{}} }

// Bind sets the bucket.
func (k *KVCursors) Bind(kv jetstream.KeyValue) {
	k.mu.Lock()
	k.kv = kv
	k.mu.Unlock()
}

// Own allows (true) or fences (false) checkpoints of stream.
func (k *KVCursors) Own(stream string, own bool) {
	k.mu.Lock()
	k.owned[stream] = own
	k.mu.Unlock()
}

func (k *KVCursors) bucket(stream string, write bool) (jetstream.KeyValue, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if write && !k.owned[stream] {
		return nil, ErrFenced
	}
	if k.kv == nil {
		return nil, ErrNoBucket
	}
	return k.kv, nil
}

// Load reads stream's checkpoint; "" when there is none.
func (k *KVCursors) Load(stream string) (string, error) {
	kv, err := k.bucket(stream, false)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvCursorTimeout)
	defer cancel()
	e, err := kv.Get(ctx, stream)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load cursor %s: %w", stream, err)
	}
	return string(e.Value()), nil
}

// Save writes stream's checkpoint unless the stream is fenced.
func (k *KVCursors) Save(stream, value string) error {
	kv, err := k.bucket(stream, true)
	if err != nil {
		return fmt.Errorf("save cursor %s: %w", stream, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvCursorTimeout)
	defer cancel()
	if _, err := kv.PutString(ctx, stream, value); err != nil {
		return fmt.Errorf("save cursor %s: %w", stream, err)
	}
	return nil
}
