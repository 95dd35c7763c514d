package poll

import "crypto/sha256"

// Dedupe drops events already seen in the previous response, for feeds without a cursor
// that return a sliding window of recent events. It compares raw bytes (SHA-256).
//
// Limits: an identical event that legitimately appears in two consecutive responses is
// dropped the second time; events the server drops between two polls are lost; duplicates
// within one response are all kept. Call Filter only with the events of a 2xx response:
// skip NotModified and errors, or the memory of the last response is lost.
//
// The zero value is ready. A Dedupe belongs to one goroutine.
type Dedupe struct {
	last map[[sha256.Size]byte]struct{}
}

// Filter returns, in order, the events that were not in the previous call's input, and
// remembers events for the next call. It does not modify events.
func (d *Dedupe) Filter(events [][]byte) [][]byte {
	seen := make(map[[sha256.Size]byte]struct{}, len(events))
	var fresh [][]byte
	for _, ev := range events {
		k := sha256.Sum256(ev)
		seen[k] = struct{}{}
		if _, dup := d.last[k]; !dup {
			fresh = append(fresh, ev)
		}
	}
	d.last = seen
	return fresh
}
