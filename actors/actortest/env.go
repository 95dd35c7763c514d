package actortest

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/config"
	"holdfast/metrics"
)

// Env is the actors.Env a test gives its actors: logs go to t at debug level, jitter draws 0
// (delays are exact), metrics are fresh, and reports go to status (nil = nobody). Change a
// field of the result for anything else.
func Env(t testing.TB, clock actors.Clock, status *actor.PID) actors.Env {
	return actors.Env{Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel), Clock: clock,
		Rand: func(time.Duration) time.Duration { return 0 }, Status: status, Metrics: metrics.New()}
}

// SpawnNamed spawns props as name and stops it in t.Cleanup, waiting for its drain (the
// system itself shuts down after, in NewSystem's cleanup).
func SpawnNamed(t testing.TB, sys *actor.ActorSystem, props *actor.Props, name string) *actor.PID {
	t.Helper()
	pid, err := sys.Root.SpawnNamed(props, name)
	if err != nil {
		t.Fatalf("spawn %s: %v", name, err)
	}
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	return pid
}

// Stream is the config of the stream rig the end-to-end tests share: one stream "s1" on URL
// whose events go to the file sink "events" (Dir/events.jsonl) and whose unroutable frames go
// to "rejects" (Dir/rejects.jsonl), both flushed every 10ms, with state_dir Dir.
type Stream struct {
	Dir       string
	URL       string
	Keys      string // TOML inside [[stream]] before its routes: plain keys first, then any sub-tables
	Subscribe bool   // send {"type":"subscribe","channel":"processing"} after every connect
	Tables    string // TOML after the stream: more sub-tables of it ([stream.x]), more [[sink]]s
}

const streamTOML = `
[daemon]
state_dir = %q

[[sink]]
name = "events"
kind = "file"
path = %q
flush_interval = "10ms"

[[sink]]
name = "rejects"
kind = "file"
path = %q
flush_interval = "10ms"

[[stream]]
name = "s1"
url = %q
dead_letter = "rejects"
%s
%s
  [[stream.route]]
  type = "*"
  sinks = ["events"]
%s
`

// Config parses the rig's TOML, failing t when it does not load.
func (s Stream) Config(t testing.TB) *config.Config {
	t.Helper()
	subscribe := ""
	if s.Subscribe {
		subscribe = "  [[stream.subscribe]]\n  message = { type = \"subscribe\", channel = \"processing\" }"
	}
	src := fmt.Sprintf(streamTOML, s.Dir, filepath.Join(s.Dir, "events.jsonl"), filepath.Join(s.Dir, "rejects.jsonl"), s.URL, s.Keys, subscribe, s.Tables)
	cfg, err := config.Parse([]byte(src), "test.toml")
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}
