package actors

import (
	"slices"
	"testing"
	"time"
)

func TestPlanLeases(t *testing.T) {
	six := []string{"s1", "s2", "s3", "s4", "s5", "s6"}
	t0 := time.Unix(0, 0)
	held := func(names ...string) []heldLease {
		var out []heldLease
		for i, n := range names {
			out = append(out, heldLease{Stream: n, Since: t0.Add(time.Duration(i) * time.Second)})
		}
		return out
	}
	owned := func(owner string, names ...string) map[string]string {
		m := map[string]string{}
		for _, n := range names {
			m[n] = owner
		}
		return m
	}
	for _, tt := range []struct {
		name        string
		live        []string
		owners      map[string]string
		held        []heldLease
		blocked     map[string]bool
		slack       int
		wantTake    int
		wantRelease []string
	}{
		{name: "alone: takes everything", live: []string{"a"}, wantTake: 6},
		{name: "not yet listed as live counts itself", live: nil, wantTake: 6},
		{name: "two live, none held: takes its fair share of 3", live: []string{"a", "b"}, wantTake: 3},
		{name: "two live, holds 3: nothing to do", live: []string{"a", "b"}, held: held("s1", "s2", "s3"),
			owners: owned("b", "s4", "s5", "s6")},
		{name: "second instance joined: hands over its 3 newest", live: []string{"a", "b"},
			held: held("s1", "s2", "s3", "s4", "s5", "s6"), wantRelease: []string{"s4", "s5", "s6"}},
		{name: "slack keeps one more", live: []string{"a", "b"}, slack: 1,
			held: held("s1", "s2", "s3", "s4", "s5", "s6"), wantRelease: []string{"s5", "s6"}},
		{name: "three live: fair share 2", live: []string{"a", "b", "c"}, held: held("s1", "s2", "s3"),
			owners: owned("b", "s4", "s5", "s6"), wantRelease: []string{"s3"}},
		{name: "releasing leases do not count", live: []string{"a", "b"},
			held: append(held("s1", "s2", "s3"), heldLease{Stream: "s4", Releasing: true}), owners: owned("b", "s5", "s6")},
		{name: "only free streams are taken", live: []string{"a", "b"}, owners: owned("b", "s1", "s2", "s3", "s4", "s5"),
			wantTake: 1},
		{name: "a stream still stopping here is not retaken", live: []string{"a"}, owners: owned("b", "s1", "s2", "s3", "s4", "s5"),
			blocked: map[string]bool{"s6": true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			owners := tt.owners
			if owners == nil {
				owners = map[string]string{}
			}
			for _, h := range tt.held {
				owners[h.Stream] = "a"
			}
			p := planLeases("a", six, tt.live, owners, tt.held, tt.blocked, tt.slack)
			if len(p.Take) != tt.wantTake || !slices.Equal(p.Release, tt.wantRelease) {
				t.Fatalf("plan = take %v release %v, want %d taken, release %v", p.Take, p.Release, tt.wantTake, tt.wantRelease)
			}
			for _, s := range p.Take {
				if owners[s] != "" {
					t.Errorf("takes %s, held by %s", s, owners[s])
				}
			}
		})
	}
}

func TestPlanLeasesSpreadsInstances(t *testing.T) {
	var streams []string
	for i := range 60 {
		streams = append(streams, "stream-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	a := planLeases("a", streams, []string{"a", "b"}, map[string]string{}, nil, nil, 0).Take
	b := planLeases("b", streams, []string{"a", "b"}, map[string]string{}, nil, nil, 0).Take
	overlap := 0
	for _, s := range a {
		if slices.Contains(b, s) {
			overlap++
		}
	}
	if len(a) != 30 || len(b) != 30 || overlap > 22 {
		t.Fatalf("a takes %d, b %d, %d preferred by both: rendezvous order does not spread them", len(a), len(b), overlap)
	}
}
