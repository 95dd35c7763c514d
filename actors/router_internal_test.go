package actors

import (
	"fmt"
	"math"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/wire"
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

// The router keeps per type what it looks up for every event (sinks, counter, envelope
// head) and compares the last type before hashing: interleaved types, types past the cache,
// both paths and a type that needs escaping must each get their own.
func TestTypeRouteFollowsEveryType(t *testing.T) {
	m := metrics.New()
	r := &Router{env: Env{Metrics: m}, cfg: RouterConfig{Stream: "s",
		Routes: map[string][]string{"a": {"file"}, `q"t`: {"hook"}, "*": {"rest"}}}}
	r.stamp = wire.AppendTime(nil, time.Unix(0, 0))
	check := func(typ, via, sink string) {
		t.Helper()
		tr := r.typeRoute(typ)
		if len(tr.sinks) != 1 || tr.sinks[0] != sink {
			t.Fatalf("type %q routed to %v, want [%s]", typ, tr.sinks, sink)
		}
		tr.events.Inc()
		var ev messages.Event
		r.envelope(&ev, &messages.FrameReceived{Type: typ, Via: via, Data: []byte(`{"k":1}`)}, tr)
		want := wire.AppendEnvelope(nil, "s", typ, via, time.Unix(0, 0), []byte(`{"k":1}`))
		if string(ev.Line) != string(want) {
			t.Fatalf("envelope of %q via %s:\n got %s\nwant %s", typ, via, ev.Line, want)
		}
	}
	counts := map[string]float64{}
	for i := range maxCachedTypes + 20 {
		for _, typ := range []string{"a", "b", `q"t`, "a", fmt.Sprintf("t%d", i)} {
			via := messages.ViaWebSocket
			if i%3 == 0 {
				via = messages.ViaPoll
			}
			sink := map[string]string{"a": "file", `q"t`: "hook"}[typ]
			if sink == "" {
				sink = "rest"
			}
			check(typ, via, sink)
			counts[typ]++
		}
	}
	if len(r.types) > maxCachedTypes {
		t.Fatalf("%d types cached, at most %d", len(r.types), maxCachedTypes)
	}
	for _, typ := range []string{"a", "b", `q"t`} {
		var got dto.Metric
		if err := m.EventCounter("s", typ).Write(&got); err != nil {
			t.Fatal(err)
		}
		if got.GetCounter().GetValue() != counts[typ] {
			t.Errorf("events_in{type=%q} = %v, want %v", typ, got.GetCounter().GetValue(), counts[typ])
		}
	}
}
