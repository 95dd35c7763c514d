package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
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
// bucket. The Cluster actor binds the bucket once connected, reads a stream's checkpoint
// from the bucket's stream leader before it runs the stream (Fetch, then Resume), and fences
// a stream the moment it stops owning it. While this instance owns a stream nobody else
// writes its key, so the value it last loaded or saved is the checkpoint: Load answers
// from it without a read. It also follows whether a stream may be handed over
// (HandoverSafe, Covered). Safe for concurrent use; the zero value is not usable, use
// NewKVCursors.
type KVCursors struct {
	mu      sync.Mutex
	nc      *nats.Conn
	bucket  string             // the KV bucket's name (<bucket>_cursors)
	kv      jetstream.KeyValue // nil until Bind
	streams map[string]*kvStream
}

// kvStream is what KVCursors knows of one stream this instance owns.
type kvStream struct {
	value     string // the checkpoint: as read at take-over, then as saved
	known     bool   // value is set
	routed    bool   // the running stream routed an event with a cursor
	uncovered bool   // the stream stopped with routed events its checkpoint does not cover
}

// NewKVCursors returns an unbound store in which every stream is fenced.
func NewKVCursors() *KVCursors { return &KVCursors{streams: map[string]*kvStream{}} }

// Bind sets the bucket: nc carries the leader reads, kv the writes.
func (k *KVCursors) Bind(nc *nats.Conn, bucket string, kv jetstream.KeyValue) {
	k.mu.Lock()
	k.nc, k.bucket, k.kv = nc, bucket, kv
	k.mu.Unlock()
}

// Own allows (true) or fences (false) checkpoints of stream. Fencing forgets all about it.
func (k *KVCursors) Own(stream string, own bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !own {
		delete(k.streams, stream)
		return
	}
	if k.streams[stream] == nil {
		k.streams[stream] = &kvStream{}
	}
}

// Resume owns stream with the checkpoint value (read by Fetch; "" for none), for the run
// about to start.
func (k *KVCursors) Resume(stream, value string) {
	k.mu.Lock()
	k.streams[stream] = &kvStream{value: value, known: true}
	k.mu.Unlock()
}

// Rerun starts a new run of an owned stream: it keeps the checkpoint and forgets the last
// run's progress.
func (k *KVCursors) Rerun(stream string) {
	k.mu.Lock()
	if s := k.streams[stream]; s != nil {
		s.routed, s.uncovered = false, false
	}
	k.mu.Unlock()
}

// HandoverSafe reports whether stream may be stopped and handed over now: it routed no
// event with a cursor, or a checkpoint exists that the next owner resumes from.
func (k *KVCursors) HandoverSafe(stream string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.streams[stream]
	return s == nil || !s.routed || s.value != ""
}

// Covered reports whether stream, once stopped, left no routed event that its checkpoint
// does not cover (true for a stream with no cursor).
func (k *KVCursors) Covered(stream string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.streams[stream]
	return s == nil || !s.uncovered
}

// Routed implements CursorStore.
func (k *KVCursors) Routed(stream string) {
	k.mu.Lock()
	if s := k.streams[stream]; s != nil {
		s.routed = true
	}
	k.mu.Unlock()
}

// Stopped implements CursorStore.
func (k *KVCursors) Stopped(stream string, covered bool) {
	k.mu.Lock()
	if s := k.streams[stream]; s != nil {
		s.uncovered = !covered
	}
	k.mu.Unlock()
}

// Load returns stream's checkpoint: the one this instance knows, or else a leader read.
func (k *KVCursors) Load(stream string) (string, error) {
	k.mu.Lock()
	if s := k.streams[stream]; s != nil && s.known {
		v := s.value
		k.mu.Unlock()
		return v, nil
	}
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), kvCursorTimeout)
	defer cancel()
	return k.Fetch(ctx, stream)
}

// Fetch reads stream's checkpoint from the stream leader of the cursors bucket; "" when
// there is none. A KV Get would use a direct get, which any replica may answer, even one
// that has not yet stored the newest checkpoint; a new owner that read "none" there would
// subscribe for live events only and lose what the old owner had not delivered.
func (k *KVCursors) Fetch(ctx context.Context, stream string) (string, error) {
	k.mu.Lock()
	nc, bucket := k.nc, k.bucket
	k.mu.Unlock()
	if nc == nil {
		return "", fmt.Errorf("load cursor %s: %w", stream, ErrNoBucket)
	}
	v, err := leaderGetLast(ctx, nc, "KV_"+bucket, "$KV."+bucket+"."+stream)
	if err != nil {
		return "", fmt.Errorf("load cursor %s: %w", stream, err)
	}
	return v, nil
}

// Save writes stream's checkpoint unless the stream is fenced.
func (k *KVCursors) Save(stream, value string) error {
	k.mu.Lock()
	kv, owned := k.kv, k.streams[stream] != nil
	k.mu.Unlock()
	if !owned {
		return fmt.Errorf("save cursor %s: %w", stream, ErrFenced)
	}
	if kv == nil {
		return fmt.Errorf("save cursor %s: %w", stream, ErrNoBucket)
	}
	ctx, cancel := context.WithTimeout(context.Background(), kvCursorTimeout)
	defer cancel()
	if _, err := kv.PutString(ctx, stream, value); err != nil {
		return fmt.Errorf("save cursor %s: %w", stream, err)
	}
	k.mu.Lock()
	if s := k.streams[stream]; s != nil {
		s.value, s.known = value, true
	}
	k.mu.Unlock()
	return nil
}

// msgGetResponse is the JetStream API's answer to a (non-direct) message get.
type msgGetResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Message *struct {
		Header []byte `json:"hdrs"`
		Data   []byte `json:"data"`
	} `json:"message"`
}

// errCodeNoMessage is JetStream's error code for "no message found".
const errCodeNoMessage = 10037

// leaderGetLast reads the last message on subject in stream with $JS.API.STREAM.MSG.GET,
// which in a cluster only the stream's leader answers (direct gets are answered by any
// replica). A KV delete or purge marker counts as no value.
func leaderGetLast(ctx context.Context, nc *nats.Conn, stream, subject string) (string, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": subject})
	msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return "", fmt.Errorf("leader get: %w", err)
	}
	var resp msgGetResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return "", fmt.Errorf("leader get: %w", err)
	}
	if resp.Error != nil {
		if resp.Error.ErrCode == errCodeNoMessage {
			return "", nil
		}
		return "", fmt.Errorf("leader get: %s (%d)", resp.Error.Description, resp.Error.ErrCode)
	}
	if resp.Message == nil {
		return "", errors.New("leader get: empty answer")
	}
	if len(resp.Message.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(resp.Message.Header)
		if err != nil {
			return "", fmt.Errorf("leader get: %w", err)
		}
		if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return "", nil
		}
	}
	return string(resp.Message.Data), nil
}
