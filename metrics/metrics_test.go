package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape fetches Handler over a real HTTP server and parses the text exposition.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape status = %d, want 200", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return mfs
}

// value returns the series of family name whose labels include want, and whether it exists.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestScrape(t *testing.T) {
	m := New()
	m.Connections.WithLabelValues("a").Inc()
	m.Connections.WithLabelValues("a").Inc()
	m.EventIn("a", "trade")
	m.Disconnect("a", ReasonStale)
	m.Disconnect("a", "something invented")
	m.QueueDepth.WithLabelValues("a").Set(7)
	m.QueueDropped.WithLabelValues("a", DropTTL).Add(3)
	m.Handshake.WithLabelValues("a").Observe(0.05)
	m.SinkDelivered.WithLabelValues("a", "out").Inc()
	m.ModeSwitches.WithLabelValues("a", "websocket", "poll").Inc()
	m.SetState("a", "connecting")
	m.SetState("a", "connected")
	m.SetVia("a", "poll")

	mfs := scrape(t, m)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"holdfast_connections_total", map[string]string{"stream": "a"}, 2},
		{"holdfast_events_in_total", map[string]string{"stream": "a", "type": "trade"}, 1},
		{"holdfast_disconnects_total", map[string]string{"stream": "a", "reason": "stale"}, 1},
		{"holdfast_disconnects_total", map[string]string{"stream": "a", "reason": "other"}, 1},
		{"holdfast_queue_depth", map[string]string{"stream": "a"}, 7},
		{"holdfast_queue_dropped_total", map[string]string{"stream": "a", "reason": "ttl"}, 3},
		{"holdfast_handshake_seconds", map[string]string{"stream": "a"}, 1},
		{"holdfast_sink_delivered_total", map[string]string{"stream": "a", "sink": "out"}, 1},
		{"holdfast_mode_switches_total", map[string]string{"stream": "a", "from": "websocket", "to": "poll"}, 1},
		{"holdfast_stream_state", map[string]string{"stream": "a", "state": "connected"}, 1},
		{"holdfast_stream_state", map[string]string{"stream": "a", "state": "connecting"}, 0},
		{"holdfast_stream_state", map[string]string{"stream": "a", "state": "backoff"}, 0},
		{"holdfast_via", map[string]string{"stream": "a", "via": "poll"}, 1},
		{"holdfast_via", map[string]string{"stream": "a", "via": "websocket"}, 0},
	} {
		t.Run(fmt.Sprint(tt.name, tt.labels), func(t *testing.T) {
			got, ok := value(mfs, tt.name, tt.labels)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
			}
		})
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("go collector missing: no go_goroutines")
	}
	if _, ok := mfs["process_cpu_seconds_total"]; !ok {
		t.Error("process collector missing: no process_cpu_seconds_total")
	}
}

func TestSetStateUnknownStateIsZeroedLater(t *testing.T) {
	m := New()
	m.SetState("a", "weird")
	m.SetState("a", "connected")
	mfs := scrape(t, m)
	if got, _ := value(mfs, "holdfast_stream_state", map[string]string{"stream": "a", "state": "weird"}); got != 0 {
		t.Errorf("state weird = %v after moving to connected, want 0", got)
	}
}

func TestEventTypeCap(t *testing.T) {
	m := New()
	for i := range MaxTypesPerStream + 50 {
		m.EventIn("a", fmt.Sprintf("t%d", i))
	}
	m.EventIn("a", "t0")                                  // an early type keeps its own series
	m.EventIn("a", fmt.Sprintf("t%d", MaxTypesPerStream)) // a late one stays in _other
	m.EventIn("b", "fresh")                               // the cap is per stream

	mfs := scrape(t, m)
	perStream := map[string]int{}
	for _, s := range mfs["holdfast_events_in_total"].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == "stream" {
				perStream[l.GetValue()]++
			}
		}
	}
	if got, want := perStream["a"], MaxTypesPerStream+1; got != want {
		t.Errorf("series for stream a = %d, want %d (cap + _other)", got, want)
	}
	for _, tt := range []struct {
		stream, typ string
		want        float64
	}{
		{"a", "t0", 2},
		{"a", OtherType, 51},
		{"b", "fresh", 1},
	} {
		if got, _ := value(mfs, "holdfast_events_in_total", map[string]string{"stream": tt.stream, "type": tt.typ}); got != tt.want {
			t.Errorf("events_in{stream=%q,type=%q} = %v, want %v", tt.stream, tt.typ, got, tt.want)
		}
	}
}

func TestDeleteStream(t *testing.T) {
	m := New()
	m.InitStream("gone", true)
	m.SinkDelivered.WithLabelValues("gone", "out").Inc()
	m.SinkHealthy.WithLabelValues("gone", "out").Set(1)
	m.EventIn("gone", "x")
	m.SetState("gone", "connected")
	m.QueueDepth.WithLabelValues("gone").Set(1)
	m.HeartbeatRTT.WithLabelValues("gone").Observe(0.01)
	m.EventIn("kept", "x")
	m.DeleteStream("gone")

	mfs := scrape(t, m)
	for name, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "stream" && l.GetValue() == "gone" {
					t.Errorf("%s still has a series for the deleted stream", name)
				}
			}
		}
	}
	if _, ok := value(mfs, "holdfast_events_in_total", map[string]string{"stream": "kept"}); !ok {
		t.Error("series of the kept stream was deleted too")
	}
	// The type budget restarts for a stream re-added under the same name.
	for i := range MaxTypesPerStream {
		m.EventIn("gone", fmt.Sprintf("n%d", i))
	}
	if got, _ := value(scrape(t, m), "holdfast_events_in_total", map[string]string{"stream": "gone", "type": OtherType}); got != 0 {
		t.Errorf("_other = %v for a re-added stream within its cap, want 0", got)
	}
}

func TestInitStreamCreatesEverySeriesAtZero(t *testing.T) {
	m := New()
	m.InitStream("a", true)
	mfs := scrape(t, m)
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "holdfast_") {
			continue
		}
		has := false
		for _, l := range mf.GetMetric()[0].GetLabel() {
			has = has || l.GetName() == "stream"
		}
		if !has {
			continue // build_info, reload: not per stream
		}
		for _, s := range mf.GetMetric() {
			if v := s.GetCounter().GetValue() + s.GetGauge().GetValue() + float64(s.GetHistogram().GetSampleCount()); v != 0 {
				t.Errorf("%s%v = %v at start, want 0", name, s.GetLabel(), v)
			}
		}
	}
	for _, tt := range []struct {
		name   string
		labels map[string]string
	}{
		{"holdfast_connections_total", map[string]string{"stream": "a"}},
		{"holdfast_reconnects_total", map[string]string{"stream": "a"}},
		{"holdfast_disconnects_total", map[string]string{"stream": "a", "reason": "stale"}},
		{"holdfast_parse_errors_total", map[string]string{"stream": "a", "reason": "not_json"}},
		{"holdfast_parse_errors_total", map[string]string{"stream": "a", "reason": "poll_body"}},
		{"holdfast_duplicates_total", map[string]string{"stream": "a"}},
		{"holdfast_gaps_total", map[string]string{"stream": "a"}},
		{"holdfast_queue_depth", map[string]string{"stream": "a"}},
		{"holdfast_queue_dropped_total", map[string]string{"stream": "a", "reason": "overflow"}},
		{"holdfast_messages_out_total", map[string]string{"stream": "a", "via": "websocket"}},
		{"holdfast_handshake_seconds", map[string]string{"stream": "a"}},
		{"holdfast_heartbeat_rtt_seconds", map[string]string{"stream": "a"}},
		{"holdfast_poll_requests_total", map[string]string{"stream": "a", "result": "error"}},
		{"holdfast_mode_switches_total", map[string]string{"stream": "a", "from": "websocket", "to": "poll"}},
		{"holdfast_mode_seconds_total", map[string]string{"stream": "a", "mode": "poll"}},
		{"holdfast_last_event_timestamp_seconds", map[string]string{"stream": "a"}},
		{"holdfast_stream_ready", map[string]string{"stream": "a"}},
	} {
		if _, ok := value(mfs, tt.name, tt.labels); !ok {
			t.Errorf("%s%v missing after InitStream", tt.name, tt.labels)
		}
	}
}

func TestParseReasonHasNoSpaces(t *testing.T) {
	for in, want := range map[string]string{"not JSON": "not_json", "no string type": "no_string_type", "binary frame": "binary_frame"} {
		if got := ParseReason(in); got != want {
			t.Errorf("ParseReason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := New(), New() // would panic on duplicate registration with a shared registry
	a.Connections.WithLabelValues("s").Inc()
	if _, ok := value(scrape(t, b), "holdfast_connections_total", map[string]string{"stream": "s"}); ok {
		t.Error("a series set on one Metrics shows on another")
	}
}

func TestEventCounterSurvivesInvalidUTF8(t *testing.T) {
	m := New()
	m.EventIn("s", "bad\xfftype") // an upstream may send any bytes as a type
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "holdfast_events_in_total" {
			continue
		}
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			if lp.GetName() == "type" && lp.GetValue() != "bad\uFFFDtype" {
				t.Errorf("type label = %q, want the invalid byte replaced", lp.GetValue())
			}
		}
		return
	}
	t.Fatal("no holdfast_events_in_total series")
}

func TestTypeLabelIsBounded(t *testing.T) {
	long := strings.Repeat("é", 1<<19) // 1 MiB of two-byte characters
	for _, tt := range []struct {
		name, typ string
		same      bool // the label is the type itself
	}{
		{"short", "processing_progress", true},
		{"at the limit", strings.Repeat("a", MaxTypeLabel), true},
		{"just over", strings.Repeat("a", MaxTypeLabel+1), false},
		{"1 MiB", long, false},
		{"1 MiB, another", long + "x", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := TypeLabel(tt.typ)
			if len(got) > MaxTypeLabel || !utf8.ValidString(got) {
				t.Errorf("TypeLabel(%d bytes) = %q (%d bytes), want valid UTF-8 of at most %d", len(tt.typ), got, len(got), MaxTypeLabel)
			}
			if (got == tt.typ) != tt.same {
				t.Errorf("TypeLabel(%.20q…) = %q; the type itself: %v, want %v", tt.typ, got, got == tt.typ, tt.same)
			}
		})
	}
	if TypeLabel(long) == TypeLabel(long+"x") {
		t.Errorf("two long types that differ only at the end share the label %q", TypeLabel(long))
	}
}

// 400 events with distinct 1 MiB types make at most MaxTypesPerStream short series.
func TestHugeTypesKeepMetricsSmall(t *testing.T) {
	m := New()
	for i := range 400 {
		m.EventIn("a", strconv.Itoa(i)+strings.Repeat("t", 1<<20))
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if n := rec.Body.Len(); n > 256<<10 {
		t.Errorf("/metrics is %d bytes after 400 huge types, want under 256 KiB", n)
	}
}
