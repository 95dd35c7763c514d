package actors_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"holdfast/actors"
	"holdfast/actors/actortest"
	"holdfast/natstest"
)

// TestKVCursorsReadFromTheStreamLeader: a KV Get is a direct get, which any replica of the
// bucket may answer, including one that has not stored the newest checkpoint yet; a new
// owner that read "no cursor" there would subscribe for live events only. Here such
// replicas are stood in by five mirrors of the bucket that lack the key and answer direct
// gets (mirror_direct) next to the bucket's own responder, so most direct gets see no
// cursor.
// KVCursors must read the checkpoint every time: from the stream leader, which alone
// answers $JS.API.STREAM.MSG.GET.
func TestKVCursorsReadFromTheStreamLeader(t *testing.T) {
	ns := natstest.Start(t)
	nc, js := natstest.JetStream(t, ns.URL())
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "hf_cursors"})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"s1": "41", "gone": "7"} {
		if _, err := kv.PutString(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// Stand-ins for replicas that have not stored s1's checkpoint: mirrors of the bucket's
	// stream that take every key but s1 and, like the origin's replicas, answer direct gets.
	for i := range 5 {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: fmt.Sprintf("STALE%d", i), MirrorDirect: true,
			Mirror: &jetstream.StreamSource{Name: "KV_hf_cursors", FilterSubject: "$KV.hf_cursors.other"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.PutString(ctx, "other", "1"); err != nil { // a mirror answers once it has received a message
		t.Fatal(err)
	}
	actortest.Eventually(t, "a direct get answered by a stand-in", func() bool {
		_, err := kv.Get(ctx, "s1")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	fooled := 0
	for range 20 {
		if _, err := kv.Get(ctx, "s1"); errors.Is(err, jetstream.ErrKeyNotFound) {
			fooled++
		}
	}
	t.Logf("%d of 20 direct gets answered \"no cursor\"", fooled)

	c := actors.NewKVCursors()
	c.Bind(nc, "hf_cursors", kv)
	for i := range 20 {
		if v, err := c.Fetch(ctx, "s1"); v != "41" || err != nil {
			t.Fatalf("read %d: Fetch(s1) = %q, %v; want 41", i, v, err)
		}
		if v, err := c.Load("s1"); v != "41" || err != nil {
			t.Fatalf("read %d: Load(s1) = %q, %v; want 41", i, v, err)
		}
	}
	for _, k := range []string{"none", "gone"} {
		if v, err := c.Fetch(ctx, k); v != "" || err != nil {
			t.Errorf("Fetch(%s) = %q, %v; want no cursor", k, v, err)
		}
	}
}
