package actors

import (
	"cmp"
	"hash/fnv"
	"slices"
	"time"
)

// heldLease is one stream lease this instance holds, as the plan sees it.
type heldLease struct {
	Stream    string
	Since     time.Time
	Releasing bool // handing over: stopping, then deleting the key
	Pinned    bool // not to be handed over now (no checkpoint yet, or a handover was deferred)
}

// leasePlan is what a scan leads to: free streams to try to take, most preferred first, and
// held streams to hand over.
type leasePlan struct {
	Take    []string
	Release []string
}

// fairShare is ceil(streams / live), with at least one live instance (this one).
func fairShare(streams, live int) int {
	live = max(live, 1)
	return (streams + live - 1) / live
}

// planLeases is the whole balancing policy. self holds held; owners maps every stream that
// some instance holds (this one included) to its owner; blocked streams are stopping here
// and must not be taken yet. An instance holds at most fair share + slack: above that it
// hands over its newest leases that are not pinned, below its fair share it tries to take free streams in
// rendezvous-hash order (each instance prefers different streams, so they rarely race).
func planLeases(self string, streams, live []string, owners map[string]string, held []heldLease,
	blocked map[string]bool, slack int) leasePlan {
	n := len(live)
	if !slices.Contains(live, self) {
		n++
	}
	fair := fairShare(len(streams), n)
	keep := make([]heldLease, 0, len(held))
	for _, h := range held {
		if !h.Releasing {
			keep = append(keep, h)
		}
	}
	var p leasePlan
	if len(keep) > fair+slack {
		slices.SortFunc(keep, func(a, b heldLease) int { // newest first
			if c := b.Since.Compare(a.Since); c != 0 {
				return c
			}
			return cmp.Compare(a.Stream, b.Stream)
		})
		n := len(keep) - fair - slack
		for _, h := range keep {
			if n == 0 {
				break
			}
			if !h.Pinned {
				p.Release = append(p.Release, h.Stream)
				n--
			}
		}
		slices.Sort(p.Release)
		return p
	}
	want := fair - len(keep)
	if want <= 0 {
		return p
	}
	var free []string
	for _, s := range streams {
		if _, taken := owners[s]; !taken && !blocked[s] && !slices.ContainsFunc(held, func(h heldLease) bool { return h.Stream == s }) {
			free = append(free, s)
		}
	}
	slices.SortFunc(free, func(a, b string) int {
		if c := cmp.Compare(rendezvous(self, b), rendezvous(self, a)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	p.Take = free[:min(want, len(free))]
	return p
}

// rendezvous is the highest-random-weight score of instance for stream.
func rendezvous(instance, stream string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(instance))
	h.Write([]byte{0})
	h.Write([]byte(stream))
	return h.Sum64()
}
