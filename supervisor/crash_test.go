package supervisor

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/actors/actortest"
)

// crashingChild panics on the string "boom" in explodeAtCrashSite.
type crashingChild struct{}

func (crashingChild) Receive(ctx actor.Context) {
	if s, ok := ctx.Message().(string); ok && s == "boom" {
		explodeAtCrashSite()
	}
}

//go:noinline
func explodeAtCrashSite() { panic("bad frame") }

// crashParent is a parent whose strategy is a Stream's HandleFailure: it spawns one child the
// way the stream spawns its children.
type crashParent struct {
	s     *Stream
	child chan<- *actor.PID
}

func (p *crashParent) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.Started); ok {
		p.child <- ctx.Spawn(actors.Supervised(actor.PropsFromProducer(func() actor.Actor { return crashingChild{} })))
	}
}

func (p *crashParent) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason, msg any) {
	p.s.HandleFailure(sys, sup, child, rs, reason, msg)
}

// TestCrashLogsTheCrashSite: a child that panics on a bug is logged at Error with the stack of
// the place it panicked, not the supervisor's, and restarted.
func TestCrashLogsTheCrashSite(t *testing.T) {
	sys, _ := actortest.NewSystem(t)
	logs := &actortest.Buffer{}
	s := &Stream{log: zerolog.New(logs), peers: actors.Peers{Connection: actor.NewPID("nonhost", "not-this-child")}}
	children := make(chan *actor.PID, 2)
	sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &crashParent{s: s, child: children} }))
	child := <-children
	sys.Root.Send(child, "boom")
	actortest.Eventually(t, "the crash logged", func() bool { return strings.Contains(logs.String(), "child crashed") })

	var line struct {
		Level, Message, Reason, Stack string
	}
	if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &line); err != nil {
		t.Fatalf("log line %q: %v", logs.String(), err)
	}
	if line.Level != "error" || line.Reason != "bad frame" {
		t.Errorf("logged level %q reason %q, want error and the panic value", line.Level, line.Reason)
	}
	if !strings.Contains(line.Stack, "explodeAtCrashSite") {
		t.Errorf("stack does not show the crash site:\n%s", line.Stack)
	}
	if strings.Contains(line.Stack, "HandleFailure") {
		t.Errorf("stack is the supervisor's, not the crash site's:\n%s", line.Stack)
	}
	sys.Root.Send(child, "boom") // restarted: it crashes, and is logged, again
	actortest.Eventually(t, "the restarted child's crash logged", func() bool {
		return strings.Count(logs.String(), "child crashed") == 2
	})
}
