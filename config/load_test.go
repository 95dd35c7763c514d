package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pos returns the 1-based line and column of the n-th (0-based) occurrence of sub in src.
func pos(t *testing.T, src, sub string, n int) (int, int) {
	t.Helper()
	off := 0
	for i := 0; ; i++ {
		j := strings.Index(src[off:], sub)
		if j < 0 {
			t.Fatalf("%q occurs fewer than %d times", sub, n+1)
		}
		if i == n {
			off += j
			break
		}
		off += j + len(sub)
	}
	line := strings.Count(src[:off], "\n") + 1
	return line, off - strings.LastIndex(src[:off], "\n")
}

func TestDefaultsAppliedToArrayElements(t *testing.T) {
	src := baseTOML + `
[[sink]]
name = "hook"
kind = "webhook"
url = "https://h/x"

[[sink]]
name = "run"
kind = "exec"
command = ["/bin/true"]

[[stream]]
name = "second"
url = "wss://h/ws"
[stream.fallback]
poll_url = "https://h/poll"
`
	c, err := Parse([]byte(src), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultSinkConfig()
	for i, s := range c.Sinks {
		if s.Buffer != want.Buffer || s.MaxRetries != want.MaxRetries || s.Retry != want.Retry ||
			s.Concurrency != want.Concurrency || s.BatchMax != want.BatchMax || s.Mode != want.Mode {
			t.Errorf("sink[%d] = %+v, want the sink defaults", i, s)
		}
	}
	if got := c.Sinks[2].Timeout.Duration; got != DefaultWebhookTimeout {
		t.Errorf("webhook timeout = %v, want %v", got, DefaultWebhookTimeout)
	}
	if got := c.Sinks[3].Timeout.Duration; got != DefaultExecTimeout {
		t.Errorf("exec timeout = %v, want %v", got, DefaultExecTimeout)
	}
	def := DefaultStreamConfig()
	for i, s := range c.Streams {
		if s.Reconnect != def.Reconnect || s.Heartbeat != def.Heartbeat || s.Auth != def.Auth ||
			s.Cursor != def.Cursor || s.Queue != def.Queue || s.ReadLimit != def.ReadLimit {
			t.Errorf("stream[%d] = %+v, want the stream defaults", i, s)
		}
	}
	if c.Streams[0].Fallback != nil {
		t.Errorf("stream[0].Fallback = %+v, want nil without a [stream.fallback] table", c.Streams[0].Fallback)
	}
	fb := DefaultFallbackConfig()
	fb.PollURL = "https://h/poll"
	if got := c.Streams[1].Fallback; got == nil || fmt.Sprint(*got) != fmt.Sprint(fb) {
		t.Errorf("stream[1].Fallback = %+v, want %+v", got, fb)
	}
	if c.Daemon != DefaultConfig().Daemon || c.Control != DefaultConfig().Control {
		t.Errorf("daemon/control = %+v %+v, want defaults", c.Daemon, c.Control)
	}
}

func TestExplicitZeroKept(t *testing.T) {
	src := `[[sink]]
name = "run"
kind = "exec"
command = ["/bin/true"]
max_retries = 0
flush_interval = "0s"
dead_letter = ""

[[stream]]
name = "a"
url = "ws://h/ws"
read_limit = 2048
[stream.reconnect]
max_attempts = 0
stable_after = "0s"
max_hint = "0s"
[stream.heartbeat]
mode = "off"
interval = "0s"
[stream.queue]
ttl = "0s"
[stream.fallback]
poll_url = "http://h/p"
promote_after = "0s"

[[stream]]
name = "b"
url = "ws://h/ws"
[stream.reconnect]
max_attempts = 3
`
	c, err := Parse([]byte(src), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	s, a, b := c.Sinks[0], c.Streams[0], c.Streams[1]
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"sink max_retries", s.MaxRetries, 0},
		{"sink flush_interval", s.FlushInterval.Duration, time.Duration(0)},
		{"read_limit as TOML integer", a.ReadLimit, Size(2048)},
		{"max_attempts", a.Reconnect.MaxAttempts, 0},
		{"stable_after", a.Reconnect.StableAfter.Duration, time.Duration(0)},
		{"heartbeat interval", a.Heartbeat.Interval.Duration, time.Duration(0)},
		{"heartbeat timeout keeps its default", a.Heartbeat.Timeout.Duration, DefaultHeartbeatTimeout},
		{"fallback promote_after", a.Fallback.PromoteAfter.Duration, time.Duration(0)},
		{"fallback interval default", a.Fallback.Interval.Duration, DefaultFallbackInterval},
		{"other stream max_attempts", b.Reconnect.MaxAttempts, 3},
		{"other stream stable_after default", b.Reconnect.StableAfter.Duration, DefaultStableAfter},
		{"max_hint written as 0", a.Reconnect.MaxHint.Duration, time.Duration(0)},
		{"other stream max_hint default", b.Reconnect.MaxHint.Duration, DefaultMaxHint},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestParseErrorsArePlaced(t *testing.T) {
	twoStreams := func(first, second string) string {
		return baseTOML + first + `
[[stream]]
name = "second"
url = "ws://h/ws"
` + second
	}
	for _, tt := range []struct {
		name string
		src  string
		at   string // the error's line and column are those of the n-th occurrence of at
		n    int
		want string // key: message
	}{
		{"unknown table in the first stream", twoStreams("[stream.reconect]\nmax_delay = \"5s\"\n", "[stream.reconnect]\nmax_delay = \"5s\"\n"),
			"[stream.reconect]", 0, `stream[0].reconect: unknown key (did you mean "reconnect"?)`},
		{"unknown table in the second stream", twoStreams("[stream.reconnect]\nmax_delay = \"5s\"\n", "[stream.reconect]\nmax_delay = \"5s\"\n"),
			"[stream.reconect]", 0, `stream[1].reconect: unknown key (did you mean "reconnect"?)`},
		{"unknown dotted key", twoStreams("", "reconect.max_delay = \"5s\"\n"),
			"reconect.max_delay", 0, `stream[1].reconect: unknown key (did you mean "reconnect"?)`},
		{"unknown top-level key", "[daemon]\nlog_levle = \"info\"\n" + baseTOML,
			"log_levle", 0, `daemon.log_levle: unknown key (did you mean "log_level"?)`},
		{"key in the wrong case", strings.Replace(baseTOML, "url =", "URL =", 1),
			"URL =", 0, `stream[0].URL: unknown key (did you mean "url"?)`},
		{"unknown key in an inline table", strings.Replace(baseTOML, "[[stream.route]]", "tls = { ca_fil = \"ca.pem\" }\n[[stream.route]]", 1),
			"tls =", 0, `stream[0].tls.ca_fil: unknown key (did you mean "ca_file"?)`},
		{"malformed duration in the first of two streams", twoStreams("[stream.reconnect]\nmax_delay = \"5 seconds\"\n", "[stream.reconnect]\nmax_delay = \"5s\"\n"),
			`"5 seconds"`, 0, `stream[0].reconnect.max_delay: invalid duration "5 seconds"`},
		{"negative duration", twoStreams("", "write_timeout = \"-1s\"\n"),
			`"-1s"`, 0, `stream[1].write_timeout: duration "-1s" is negative`},
		{"duration without unit", "[daemon]\nshutdown_timeout = 10\n" + baseTOML,
			"10", 0, `daemon.shutdown_timeout: duration "10" needs a unit`},
		{"malformed duration in an inline array of tables", "sink = [{name = \"s\", kind = \"stdout\"}]\nstream = [{name = \"a\", url = \"ws://h/ws\", write_timeout = \"-1s\"}]\n",
			"write_timeout", 0, `stream[0].write_timeout: duration "-1s" is negative`},
		{"malformed size", twoStreams("", "read_limit = \"1XB\"\n"),
			`"1XB"`, 0, `stream[1].read_limit: invalid size "1XB"`},
		{"negative size", "[control]\nmax_body = -1\n" + baseTOML,
			"-1", 0, `control.max_body: size "-1" is negative`},
		{"wrong type in the second sink", strings.Replace(baseTOML, `kind = "stdout"`, "kind = \"stdout\"\nbuffer = \"big\"", 1),
			`"big"`, 0, `sink[1].buffer: incompatible types: TOML value has type string; destination has type integer`},
		{"string where an array belongs", strings.Replace(baseTOML, `sinks = ["events"]`, `sinks = "events"`, 1),
			`"events"`, 1, `stream[0].route[0].sinks: incompatible types`},
		{"table where an array of tables belongs", "[sink]\nname = \"x\"\n",
			"[sink]", 0, `sink: incompatible types: TOML value has type map[string]any; destination has type slice (write [[sink]] for each entry)`},
		{"syntax error", baseTOML + "name = \n",
			"name = \n", 0, `stream.route.name: expected value but found '\n' instead`},
		{"undefined sink in a route", strings.Replace(baseTOML, `sinks = ["events"]`, `sinks = ["evnts"]`, 1),
			`sinks = ["evnts"]`, 0, `stream "processing" route[0].sinks: sink "evnts" is not defined`},
		{"missing key points at its table", strings.Replace(baseTOML, "path = \"events.jsonl\"\n", "", 1),
			"[[sink]]", 0, `sink "events" path: is required for a file sink`},
		{"invalid value in the second stream", twoStreams("", "[stream.heartbeat]\nmode = \"tcp\"\n"),
			`mode = "tcp"`, 0, `stream "second" heartbeat.mode: "tcp" is not one of`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), "t.toml")
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			line, col := pos(t, tt.src, tt.at, tt.n)
			if tt.name == "syntax error" {
				col += len("name = ") // the lexer points past the '='
			}
			want := fmt.Sprintf("t.toml:%d:%d: %s", line, col, tt.want)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Parse error:\n%v\nwant it to contain:\n%s", err, want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Line != line || e.File != "t.toml" {
				t.Errorf("errors.As(*Error) = %+v, want File t.toml and Line %d", e, line)
			}
		})
	}
}

func TestParseReportsEverythingInLineOrder(t *testing.T) {
	src := "[daemon]\nlog_level = \"loud\"\n" + strings.Replace(baseTOML, `sinks = ["events"]`, `sinks = ["evnts"]`, 1) +
		"[stream.reconect]\nmax_delay = \"1s\"\n"
	_, err := Parse([]byte(src), "t.toml")
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		lines = append(lines, e.(*Error).Line)
	}
	want := []int{2, 18, 19}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("error lines = %v, want %v:\n%v", lines, want, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../config.toml")
	if err != nil {
		t.Fatalf("Load(../config.toml): %v", err)
	}
	s := c.Streams[0]
	if len(c.Streams) != 1 || s.Name != "processing" || s.URL != "ws://127.0.0.1:8080/ws" || s.Cursor.Field != "seq" {
		t.Errorf("stream = %+v, want the demo stream", s)
	}
	if msg := s.Subscribe[0].Message; msg["type"] != "subscribe" || msg["channel"] != "processing" {
		t.Errorf("subscribe = %v", s.Subscribe)
	}
	if s.DeadLetter != "rejects" {
		t.Errorf("dead_letter = %q, want rejects", s.DeadLetter)
	}
	if fmt.Sprint(s.Routes) != "[{processing_progress [events console]} {processing_complete [events console]} {* [console]}]" {
		t.Errorf("routes = %v", s.Routes)
	}
	if ev, ok := c.Sink("events"); !ok || ev.Kind != "file" || ev.Path != "events.jsonl" {
		t.Errorf("sink events = %+v, %v", ev, ok)
	}
	// The values written in the example are the defaults they document.
	def := DefaultStreamConfig()
	if s.Reconnect != def.Reconnect || s.Heartbeat != def.Heartbeat || s.Auth != def.Auth || s.Queue != def.Queue {
		t.Errorf("example stream sections differ from the defaults:\n%+v\n%+v", s, def)
	}
	if c.Daemon != DefaultConfig().Daemon || c.Control != DefaultConfig().Control {
		t.Errorf("example daemon/control differ from the defaults")
	}
}

// Every `#key = value` line in the example is a setting that must work when enabled.
func TestExampleConfigCommentedSettingsAreValid(t *testing.T) {
	data, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	all := regexp.MustCompile(`(?m)^(\s*)#([A-Za-z\[])`).ReplaceAll(data, []byte("$1$2"))
	c, err := Parse(all, "config.toml (all settings enabled)")
	if err != nil {
		t.Fatal(err)
	}
	orders := c.Streams[1]
	if orders.Auth.Mode != "message" || orders.Auth.TokenFile == "" || !orders.Queue.Durable ||
		orders.Fallback == nil || orders.Reconnect.MaxAttempts == 0 {
		t.Errorf("worked example stream = %+v", orders)
	}
	kinds := map[string]bool{}
	for _, s := range c.Sinks {
		kinds[s.Kind+"/"+s.Mode] = true
		if s.Kind == "file" && s.Fsync {
			kinds["fsync"] = true
		}
		if s.Kind == "webhook" && s.BatchMax > 1 && s.DeadLetter != "" {
			kinds["batch+dead_letter"] = true
		}
	}
	for _, k := range []string{"stdout/per_event", "file/per_event", "exec/per_event", "exec/pipe", "webhook/per_event", "fsync", "batch+dead_letter"} {
		if !kinds[k] {
			t.Errorf("no worked example for %s", k)
		}
	}
}
