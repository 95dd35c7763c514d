package main

import (
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"holdfast/upstream"
)

// TestDashboardAndAlertsUseExistingMetrics checks that every holdfast_ metric the Grafana
// dashboard and the Prometheus rules name is served by a running daemon, from its start.
// (.ci/run checks the rules themselves with promtool.)
func TestDashboardAndAlertsUseExistingMetrics(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	h.write(h.header(5*time.Second, "") + h.fileSink("out", "100ms") + streamDef{name: "a", url: up.URL(), sink: "out",
		reconnect: "max_attempts = 3", tables: "[stream.fallback]\npoll_url = \"" + up.PollURL() + "\""}.String())
	p := h.start()
	awaitUp(t, up, "subscribed", func() bool { return up.Subscribed() == 1 })
	p.waitLog("holdfast started", 1)
	up.Publish("order", nil) // events_in_total is per type: its series come with the first event
	p.waitFor("the event counted", func() bool { row, ok := h.stream("a"); return ok && row.EventsIn == 1 })
	served := map[string]bool{}
	for _, s := range h.scrape() {
		served[s.name] = true
	}
	name := regexp.MustCompile(`holdfast_[a-z_]+[a-z]`)
	for _, file := range []string{"../monitoring/grafana-dashboard.json", "../monitoring/holdfast.rules.yml"} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		used := name.FindAllString(string(text), -1)
		slices.Sort(used)
		used = slices.Compact(used)
		if len(used) < 5 {
			t.Fatalf("%s names only %v", file, used)
		}
		for _, m := range used {
			if !served[m] {
				t.Errorf("%s uses %s, which /metrics does not serve", file, m)
			}
		}
	}
}
