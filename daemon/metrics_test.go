package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"holdfast/upstream"
)

// series is one sample of the Prometheus text format.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape fetches /metrics and parses its samples (histogram buckets included).
func (h *harness) scrape() []series {
	h.t.Helper()
	code, body := h.call(http.MethodGet, "/metrics", "", "", "")
	if code != http.StatusOK {
		h.t.Fatalf("/metrics = %d", code)
	}
	var out []series
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			h.t.Fatalf("metrics line %q: %v", line, err)
		}
		s := series{name: line[:sp], labels: map[string]string{}, value: v}
		if i := strings.IndexByte(line[:sp], '{'); i >= 0 {
			s.name = line[:i]
			for _, kv := range splitLabels(line[i+1 : strings.LastIndexByte(line[:sp], '}')]) {
				k, val, _ := strings.Cut(kv, "=")
				s.labels[k] = strings.Trim(val, `"`)
			}
		}
		out = append(out, s)
	}
	return out
}

// splitLabels splits `a="x",b="y,z"` at the commas between labels.
func splitLabels(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// find returns the samples of name whose labels include want.
func find(all []series, name string, want map[string]string) []series {
	var out []series
	for _, s := range all {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && s.labels[k] == v
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func TestMetricsSeriesExistFromStartAndFollowReload(t *testing.T) {
	h := newHarness(t, false)
	up := upstream.NewTest(t, upstream.Options{})
	base := h.header(5*time.Second, "") + h.fileSink("out", "100ms")
	a := streamDef{name: "a", url: up.URL(), sink: "out"}.String()
	b := streamDef{name: "b", url: up.URL(), sink: "out"}.String()
	h.write(base + a + b)
	p := h.start()
	awaitUp(t, up, "both subscribed", func() bool { return up.Subscribed() == 2 })
	p.waitLog("holdfast started", 1) // the control API listens

	// Before any event: every per-stream and per-sink series is there, at zero.
	m := h.scrape()
	for _, tt := range []struct {
		name   string
		labels map[string]string
	}{
		{"holdfast_sink_delivered_total", map[string]string{"stream": "a", "sink": "out"}},
		{"holdfast_sink_delivered_total", map[string]string{"stream": "b", "sink": "out"}},
		{"holdfast_sink_dead_lettered_total", map[string]string{"stream": "a", "sink": "out"}},
		{"holdfast_sink_retried_total", map[string]string{"stream": "b", "sink": "out"}},
		{"holdfast_parse_errors_total", map[string]string{"stream": "a", "reason": "not_json"}},
		{"holdfast_duplicates_total", map[string]string{"stream": "a"}},
		{"holdfast_gaps_total", map[string]string{"stream": "b"}},
		{"holdfast_queue_dropped_total", map[string]string{"stream": "a", "reason": "overflow"}},
		{"holdfast_messages_out_total", map[string]string{"stream": "a", "via": "websocket"}},
		{"holdfast_disconnects_total", map[string]string{"stream": "a", "reason": "error"}},
		{"holdfast_reconnects_total", map[string]string{"stream": "b"}},
		{"holdfast_last_event_timestamp_seconds", map[string]string{"stream": "a"}},
	} {
		got := find(m, tt.name, tt.labels)
		if len(got) != 1 || got[0].value != 0 {
			t.Errorf("%s%v = %+v before any event, want one series at 0", tt.name, tt.labels, got)
		}
	}
	for _, s := range m {
		for k, v := range s.labels {
			if strings.ContainsAny(v, " \t") {
				t.Errorf("%s has label %s=%q with a space", s.name, k, v)
			}
		}
	}
	bi := find(m, "holdfast_build_info", nil)
	if len(bi) != 1 || bi[0].value != 1 || bi[0].labels["version"] == "" || bi[0].labels["revision"] == "" ||
		!strings.HasPrefix(bi[0].labels["goversion"], "go") {
		t.Errorf("build_info = %+v, want one series at 1 with version, revision and goversion", bi)
	}
	if ok := find(m, "holdfast_config_last_reload_successful", nil); len(ok) != 1 || ok[0].value != 1 {
		t.Errorf("config_last_reload_successful = %+v at start, want 1", ok)
	}
	started := find(m, "holdfast_config_last_reload_success_timestamp_seconds", nil)
	if len(started) != 1 || time.Since(time.Unix(int64(started[0].value), 0)) > time.Minute {
		t.Errorf("config_last_reload_success_timestamp_seconds = %+v, want about now", started)
	}

	before := time.Now()
	up.Publish("order", map[string]any{"n": 1})
	p.waitFor("last event timestamp of both streams", func() bool {
		m = h.scrape()
		for _, st := range []string{"a", "b"} {
			ts := find(m, "holdfast_last_event_timestamp_seconds", map[string]string{"stream": st})
			if len(ts) != 1 || ts[0].value < float64(before.Unix()) {
				return false
			}
		}
		return true
	})
	if d := find(m, "holdfast_sink_delivered_total", map[string]string{"stream": "a", "sink": "out"}); len(d) != 1 || d[0].value != 1 {
		t.Errorf("sink_delivered_total{a,out} = %+v, want 1", d)
	}

	// Stream b removed: its series go, a's stay.
	h.write(base + a)
	p.signal(syscall.SIGHUP)
	p.waitFor("stream b's series deleted", func() bool {
		for _, s := range h.scrape() {
			if s.labels["stream"] == "b" {
				return false
			}
		}
		return true
	})
	if d := find(h.scrape(), "holdfast_sink_delivered_total", map[string]string{"stream": "a", "sink": "out"}); len(d) != 1 {
		t.Errorf("stream a's sink series = %+v after removing b, want kept", d)
	}

	// A rejected reload: 0, and the timestamp stays the last good one.
	good := find(h.scrape(), "holdfast_config_last_reload_success_timestamp_seconds", nil)
	h.write(base + strings.Replace(a, "initial_delay", "initial_dleay", 1))
	p.signal(syscall.SIGHUP)
	p.waitFor("config_last_reload_successful 0", func() bool {
		ok := find(h.scrape(), "holdfast_config_last_reload_successful", nil)
		return len(ok) == 1 && ok[0].value == 0
	})
	if ts := find(h.scrape(), "holdfast_config_last_reload_success_timestamp_seconds", nil); fmt.Sprint(ts) != fmt.Sprint(good) {
		t.Errorf("success timestamp = %+v after a rejected reload, want unchanged %+v", ts, good)
	}

	// A valid file naming a directory that does not exist is rejected too, as run would.
	h.write(strings.Replace(base+a, `sinks = ["out"]`, `sinks = ["out", "lost"]`, 1) +
		strings.Replace(h.fileSink("lost", "100ms"), h.sinkPath("lost"), h.dir+"/no-such-dir/lost.jsonl", 1))
	p.signal(syscall.SIGHUP)
	p.waitLog("reload rejected", 2)
	for _, l := range p.logs() {
		if e, _ := l["error"].(string); l["message"] == "reload rejected; keeping the running config" &&
			strings.Contains(e, "no-such-dir") && !strings.Contains(e, `sink "lost" path`) {
			t.Errorf("reload rejection %q does not name the sink's path", e)
		}
	}
	if p.logged("reload rejected") != 2 || p.logged("config reloaded") != 1 {
		t.Errorf("reloads: %d rejected, %d applied; want the missing directory rejected", p.logged("reload rejected"), p.logged("config reloaded"))
	}
}

func TestRejectedReloadStaysInSystemdStatus(t *testing.T) {
	h := newHarness(t, false)
	ns := listenNotify(t, h.dir)
	up := upstream.NewTest(t, upstream.Options{})
	good := h.header(5*time.Second, "") + h.fileSink("out", "100ms") + streamDef{name: "a", url: up.URL(), sink: "out"}.String()
	h.write(good)
	p := h.start("NOTIFY_SOCKET=" + ns.path)
	p.waitFor("connected status", func() bool { return ns.index(0, "STATUS=1/1 streams connected") >= 0 })

	h.write(strings.Replace(good, "initial_delay", "initial_dleay", 1))
	mark := len(ns.all())
	p.signal(syscall.SIGHUP)
	p.waitFor("reload rejected status", func() bool { return ns.index(mark, "STATUS=reload rejected") >= 0 })
	// The status loop's next refresh (every 2s) keeps the reason in front of the summary.
	p.waitFor("a refreshed status that keeps the reason", func() bool {
		return ns.index(mark, "STATUS=reload rejected: ") >= 0 && strings.Contains(ns.all()[len(ns.all())-1], "streams connected")
	})
	for _, d := range ns.all()[mark:] {
		if strings.HasPrefix(d, "STATUS=") && !strings.HasPrefix(d, "STATUS=reload rejected: ") {
			t.Errorf("STATUS after a rejected reload = %q, want the reason kept", d)
		}
	}
	h.write(good)
	mark = len(ns.all())
	p.signal(syscall.SIGHUP)
	p.waitFor("the reason gone after a good reload", func() bool { return ns.index(mark, "STATUS=1/1 streams connected") >= 0 })
}
