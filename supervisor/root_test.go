package supervisor_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/messages"
	"holdfast/supervisor"
	"holdfast/upstream"
)

// TestRootAnswersWhileAReloadDrains: a reload that restarts a stream whose webhook is stalled
// waits for that stream's drain, and meanwhile the root answers status at once; a second
// reload sent during the first is applied after it, and each is answered with its own changes.
func TestRootAnswersWhileAReloadDrains(t *testing.T) {
	h := newHarness(t, upstream.Options{})
	release := make(chan struct{})
	defer close(release)
	hook := newStallingWebhook(t, release)
	withHook := func(extra string) *config.Config {
		cfg := h.config(`
[[sink]]
name = "slow"
kind = "webhook"
url = "` + hook.URL + `"
max_retries = 0
` + extra)
		cfg.Streams[0].Routes[0].Sinks = []string{"slow"}
		return cfg
	}
	first := withHook("")
	root := h.sys.Root.Spawn(supervisor.RootProps(h.env(), supervisor.RootConfig{Config: first, Stdout: os.Stdout}))
	t.Cleanup(func() { _ = h.sys.Root.PoisonFuture(root).Wait() })
	h.up.Await(t, "a subscribed connection", func() bool { return h.up.Subscribed() == 1 })
	h.up.Publish("processing_progress", nil)
	actortest.Eventually(t, "the webhook holding an event", func() bool { return hook.Received() == 1 })

	changed := withHook("")
	changed.Streams[0].ReadLimit *= 2 // s1 restarts, draining the held event first
	renamed := withHook("")
	renamed.Streams[0].Name = "s2"
	start := time.Now()
	restart := h.sys.Root.RequestFuture(root, &messages.Reload{Config: changed}, time.Minute)
	rename := h.sys.Root.RequestFuture(root, &messages.Reload{Config: renamed}, time.Minute)

	// The drain takes the sinks' 2s stop grace; a root that waited for it inside Receive would
	// let this request time out (supervisor.StatusTimeout, 2s).
	res, err := h.sys.Root.RequestFuture(root, &messages.GetStatus{}, supervisor.StatusTimeout).Result()
	if err != nil {
		t.Fatalf("status during the reload: %v", err)
	}
	if st, ok := res.(*messages.Status); !ok || len(st.Streams) != 1 || st.Streams[0].Stream != "s1" {
		t.Errorf("status during the reload = %+v, want stream s1 still listed", res)
	}

	got, err := restart.Result()
	if err != nil {
		t.Fatalf("first reload: %v", err)
	}
	if r := got.(*messages.Reloaded); !slices.Equal(r.Restarted, []string{"s1"}) || len(r.Added)+len(r.Removed) != 0 {
		t.Errorf("first reload = %+v, want s1 restarted", r)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("the first reload answered after %v: it did not wait for the drain", took)
	}
	got, err = rename.Result()
	if err != nil {
		t.Fatalf("second reload: %v", err)
	}
	if r := got.(*messages.Reloaded); !slices.Equal(r.Removed, []string{"s1"}) || !slices.Equal(r.Added, []string{"s2"}) {
		t.Errorf("second reload = %+v, want s1 removed and s2 added", r)
	}
	res, err = h.sys.Root.RequestFuture(root, &messages.GetStatus{}, supervisor.StatusTimeout).Result()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range res.(*messages.Status).Streams {
		names = append(names, s.Stream)
	}
	if strings.Join(names, ",") != "s2" {
		t.Errorf("streams after both reloads = %v, want only s2", names)
	}
}
