package actors_test

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"holdfast/actors"
	"holdfast/actors/actortest"
	"holdfast/config"
	"holdfast/messages"
)

// TestHeartbeatHonoursServerPings: when the server pings (Engine.IO's open packet gave its
// pingInterval and pingTimeout), holdfast sends no pings of its own, each server ping restarts
// the wait, and a server silent for pingInterval+pingTimeout makes the link stale.
func TestHeartbeatHonoursServerPings(t *testing.T) {
	sys, conn := actortest.NewSystem(t)
	clock := actortest.NewClock(time.Unix(0, 0))
	env := actors.Env{Log: zerolog.New(zerolog.NewTestWriter(t)), Clock: clock}
	cfg := config.DefaultStreamConfig().Heartbeat // our own interval (15s) must not matter
	hb := sys.Root.Spawn(actors.HeartbeatProps(env, "s", cfg, actors.Peers{Connection: conn.PID}))
	sys.Root.Send(hb, &messages.Connected{Gen: 1, PingInterval: time.Second, PingTimeout: 2 * time.Second})
	clock.AwaitTimer(t, 3*time.Second)
	for i := 0; i < 3; i++ { // a ping every 2.5s keeps the link
		clock.Advance(2500 * time.Millisecond)
		sys.Root.Send(hb, &messages.PongReceived{Gen: 1})
		clock.AwaitTimer(t, 3*time.Second)
	}
	clock.Advance(2900 * time.Millisecond)
	for _, m := range conn.Messages() {
		switch m.(type) {
		case *messages.ConnectionStale:
			t.Fatalf("stale before pingInterval+pingTimeout: %+v", m)
		case *messages.SendPing:
			t.Fatalf("pinged a server that pings: %+v", m)
		}
	}
	clock.Advance(100 * time.Millisecond)
	st := actortest.Expect[*messages.ConnectionStale](t, conn)
	if st.Gen != 1 || st.Reason != "heartbeat timeout" {
		t.Errorf("stale = %+v", st)
	}
}
