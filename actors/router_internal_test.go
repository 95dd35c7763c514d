package actors

import (
	"math"
	"testing"
)

func TestJudgeCursor(t *testing.T) {
	const window = 1000
	for _, tt := range []struct {
		name      string
		n, last   int64
		haveLast  bool
		since     int64
		haveSince bool
		want      int
	}{
		{"first event ever", 5, 0, false, 0, false, cursorNext},
		{"next in order", 11, 10, true, 0, false, cursorNext},
		{"a jump forward is next (a gap)", 500, 10, true, 0, false, cursorNext},
		{"repeat of the last one", 10, 10, true, 0, false, cursorDuplicate},
		{"replay after a subscribe from 7", 8, 10, true, 7, true, cursorDuplicate},
		{"numbering restarted below since (redeploy)", 1, 50, true, 50, true, cursorReset},
		{"at since itself: not asked for", 50, 50, true, 50, true, cursorReset},
		{"restart at 1 without a subscribe, within the window", 1, 50, true, 0, false, cursorDuplicate},
		{"back by exactly the window", 9000, 10000, true, 0, false, cursorReset},
		{"back by less than the window", 9001, 10000, true, 0, false, cursorDuplicate},
		{"after a bogus maximum", 11, math.MaxInt64, true, 10, true, cursorReset},
		{"after a bogus maximum, no since", 11, math.MaxInt64, true, 0, false, cursorReset},
		{"from the maximum down to the minimum", math.MinInt64, math.MaxInt64, true, 0, false, cursorReset},
		{"negative numbers in order", -5, -6, true, 0, false, cursorNext},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := judgeCursor(tt.n, tt.last, tt.haveLast, tt.since, tt.haveSince, window); got != tt.want {
				t.Errorf("judgeCursor(n=%d, last=%d/%v, since=%d/%v) = %d, want %d",
					tt.n, tt.last, tt.haveLast, tt.since, tt.haveSince, got, tt.want)
			}
		})
	}
}

func TestGapArithmeticSaturates(t *testing.T) {
	for _, tt := range []struct {
		last, n int64
		want    uint64
	}{
		{10, 11, 0},
		{41, 45, 3},
		{10, math.MaxInt64, math.MaxInt64 - 11},
		{math.MinInt64, math.MaxInt64, math.MaxUint64 - 1},
		{-1, 1, 1},
	} {
		if got := gapAfter(tt.last, tt.n); got != tt.want {
			t.Errorf("gapAfter(%d, %d) = %d, want %d", tt.last, tt.n, got, tt.want)
		}
	}
	if got := addSat(math.MaxUint64-1, math.MaxInt64); got != math.MaxUint64 {
		t.Errorf("addSat past the maximum = %d, want %d", got, uint64(math.MaxUint64))
	}
	if got := addSat(3, 4); got != 7 {
		t.Errorf("addSat(3, 4) = %d, want 7", got)
	}
}
