package actortest

import (
	"fmt"
	"strings"
)

// ExactlyOnce reports the first few problems with got as the sequence 1..n (a seq missing,
// or seen more than once), or "" when every seq came exactly once.
func ExactlyOnce(got []uint64, n uint64) string {
	seen := map[uint64]int{}
	for _, s := range got {
		seen[s]++
	}
	var problems []string
	for s := uint64(1); s <= n && len(problems) <= 5; s++ {
		switch seen[s] {
		case 1:
		case 0:
			problems = append(problems, fmt.Sprintf("seq %d missing", s))
		default:
			problems = append(problems, fmt.Sprintf("seq %d seen %d times", s, seen[s]))
		}
	}
	if len(got) != int(n) && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("%d lines for %d events", len(got), n))
	}
	return strings.Join(problems, "; ")
}
