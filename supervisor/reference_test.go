package supervisor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"holdfast/actors/actortest"
	"holdfast/messages"
)

// referenceDir holds the npm reference servers and their lockfile; `.ci/run` runs `npm ci`
// there.
const referenceDir = "testdata/npm"

// reference is one npm reference server run by a test, with its HTTP control API.
type reference struct {
	t    *testing.T
	addr string // 127.0.0.1:port
}

// startReference runs `node script` from referenceDir with env, waits for its
// "listening <port>" line and kills it in t.Cleanup. Without Node.js or the installed
// packages the test is skipped, except in CI, where that is a failure.
func startReference(t *testing.T, script string, env ...string) *reference {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		msg := what + `: the reference-server tests need Node.js and "npm ci" in supervisor/` + referenceDir + ` (.ci/run does both)`
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found")
	}
	if _, err := os.Stat(filepath.Join(referenceDir, "node_modules")); err != nil {
		missing("node_modules not installed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = referenceDir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", script, err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		for range lines { // the pipe's reader ends with the process
		}
	})
	deadline := time.After(60 * time.Second) // node starts slowly on a loaded machine
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%s exited before listening", script)
			}
			if port, found := strings.CutPrefix(l, "listening "); found {
				return &reference{t: t, addr: "127.0.0.1:" + port}
			}
		case <-deadline:
			t.Fatalf("%s did not start listening within 60s", script)
		}
	}
}

// do calls the control API.
func (r *reference) do(method, path string) []byte {
	r.t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	return b
}

func (r *reference) publish(n int) { r.do(http.MethodPost, fmt.Sprintf("/publish?n=%d", n)) }
func (r *reference) drop()         { r.do(http.MethodPost, "/drop") }
func (r *reference) resume()       { r.do(http.MethodPost, "/resume") }

// pauseAfterDrop drops the link and turns new connections away until resume, and returns once
// the client has been turned away (so it knows the old link is gone: a message written to a
// socket that is already dead is not sent again, as the README says). turnedAway reads the
// server's count.
func (r *reference) pauseAfterDrop(turnedAway func() int) {
	r.t.Helper()
	before := turnedAway()
	r.do(http.MethodPost, "/drop?pause=1")
	await(r.t, "a reconnect turned away", 60*time.Second, func() bool { return turnedAway() > before })
}

// state decodes GET /state into v.
func (r *reference) state(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.do(http.MethodGet, "/state"), v); err != nil {
		r.t.Fatalf("state: %v", err)
	}
}

// dropSeveralTimes publishes while dropping the link three times mid-stream, then publishes
// the rest and waits until seqs reports every event; it returns how many were published.
func dropSeveralTimes(t *testing.T, r *reference, seqs func() []int, connections func() int) int {
	t.Helper()
	total := 0
	for drop := 1; drop <= 3; drop++ {
		r.publish(300)
		total += 300
		want := total - 250
		await(t, fmt.Sprintf("%d events before drop %d", want, drop), 60*time.Second, func() bool { return len(seqs()) >= want })
		r.drop()
		await(t, fmt.Sprintf("connection %d", drop+1), 60*time.Second, func() bool { return connections() > drop })
	}
	r.publish(100)
	total += 100
	await(t, "every event", 60*time.Second, func() bool { return len(seqs()) >= total })
	got := seqs()
	if p := actortest.ExactlyOnce(toUint64(got), uint64(total)); p != "" {
		t.Fatalf("events: %s", p)
	}
	if !slices.IsSorted(got) {
		t.Errorf("events out of order")
	}
	return total
}

// typedSeqs reads the events of one type from the events file, picking seq with pick.
func typedSeqs(t *testing.T, path, typ string, pick func(json.RawMessage) int) []int {
	var out []int
	for _, l := range lines(t, path) {
		if string(l["type"]) == `"`+typ+`"` {
			out = append(out, pick(l["message"]))
		}
	}
	return out
}

type graphqlState struct {
	Connections, Refused, TurnedAway, Pings, Published, Open int
	Subscribes                                               []struct {
		ID, OperationName string
		Variables         map[string]any
	}
	Sent []string
}

// TestGraphQLReferenceServer runs the stream against graphql-ws's own server: connection_init
// with the token, one subscription resumed from the cursor through its variables, three
// drops mid-stream and a complete from the server with every event once and in order,
// ping/pong, queued mutations that reach the server, close codes, and a refused token (close
// 4403) that is an auth failure.
func TestGraphQLReferenceServer(t *testing.T) {
	const token = "gql-test-token"
	r := startReference(t, "graphql.mjs", "FEED_TOKEN="+token)
	t.Setenv("HOLDFAST_TEST_GQL_TOKEN", token)
	h := newFeedHarness(t)
	pid := h.startStream(h.feedConfig("ws://"+r.addr+"/graphql", `
protocol = "graphql-transport-ws"
  [stream.auth]
  mode = "message"
  token_env = "HOLDFAST_TEST_GQL_TOKEN"
  timeout = "30s"
  [stream.framing]
  cursor_path = "/payload/data/ticks/seq"
  [stream.heartbeat]
  interval = "200ms"
  timeout = "30s"
  [stream.reconnect]
  initial_delay = "50ms"
  max_delay = "200ms"
  [[stream.subscribe]]
  query = "subscription Ticks($since: Int) { ticks(since: $since) { seq value } }"
  operation_name = "Ticks"
  variables = { since = "${cursor}" }`), "s1")
	h.expectState(messages.StateConnected)

	events := filepath.Join(h.dir, "events.jsonl")
	seqs := func() []int {
		return typedSeqs(t, events, "Ticks", func(m json.RawMessage) int {
			var f struct {
				Payload struct {
					Data struct{ Ticks struct{ Seq int } }
				}
			}
			_ = json.Unmarshal(m, &f)
			return f.Payload.Data.Ticks.Seq
		})
	}
	var st graphqlState
	connections := func() int { r.state(&st); return st.Connections }
	total := dropSeveralTimes(t, r, seqs, connections)

	// The server ends the subscription (complete): the stream reconnects with backoff and
	// resumes from the cursor, losing and repeating nothing.
	before := connections()
	r.do(http.MethodPost, "/complete")
	await(t, "a new connection after complete", 60*time.Second, func() bool { return connections() > before })
	r.publish(50)
	total += 50
	await(t, "the events after complete", 60*time.Second, func() bool { return len(seqs()) >= total })
	if p := actortest.ExactlyOnce(toUint64(seqs()), uint64(total)); p != "" {
		t.Fatalf("events after complete: %s", p)
	}

	// Queued operations: three on the open link, three more while it is down.
	for i := 1; i <= 3; i++ {
		h.mustEnqueueRaw(pid, fmt.Sprintf(`{"query":"mutation { send(body: \"m-%d\") }"}`, i))
	}
	await(t, "the first queued mutations at the server", 60*time.Second, func() bool { r.state(&st); return len(st.Sent) >= 3 })
	r.pauseAfterDrop(func() int { r.state(&st); return st.TurnedAway })
	for i := 4; i <= 6; i++ {
		h.mustEnqueueRaw(pid, fmt.Sprintf(`{"query":"mutation { send(body: \"m-%d\") }"}`, i))
	}
	r.resume()
	await(t, "every queued mutation at the server", 60*time.Second, func() bool { r.state(&st); return len(st.Sent) >= 6 })
	for i := 1; i <= 6; i++ {
		if !slices.Contains(st.Sent, fmt.Sprintf("m-%d", i)) {
			t.Errorf("mutation m-%d never reached the server: %v", i, st.Sent)
		}
	}
	await(t, "the mutations' results routed", 60*time.Second, func() bool {
		return len(typedSeqs(t, events, "result", func(json.RawMessage) int { return 0 })) >= 6
	})
	// ping/pong: the link that stays up pings every 200ms and counts the server's pongs.
	await(t, "a pong counted", 60*time.Second, func() bool { return testutilCount(h) > 0 })
	r.state(&st)
	if st.Pings == 0 {
		t.Errorf("no ping reached the server")
	}
	ticks := 0
	for _, s := range st.Subscribes {
		if s.ID != "Ticks" {
			continue // a queued operation
		}
		if s.OperationName != "Ticks" {
			t.Errorf("subscribe %+v, want operation Ticks", s)
		}
		if since, ok := s.Variables["since"].(float64); ticks > 0 && (!ok || since < 1) {
			t.Errorf("re-subscribe %d does not resume: variables %v", ticks, s.Variables)
		}
		ticks++
	}
	if ticks != st.Connections {
		t.Errorf("%d subscriptions for %d connections", ticks, st.Connections)
	}

	// The protocol's close codes, sent by the server: 4429 waits max_delay, 4500 backs off as
	// usual, 4401 is an auth refusal.
	for _, tt := range []struct {
		code    int
		state   string
		atLeast time.Duration
	}{
		{4429, messages.StateBackoff, 5 * time.Second},
		{4500, messages.StateBackoff, 0},
		{4401, messages.StateAuthFailed, 0},
	} {
		t.Run(fmt.Sprintf("close %d", tt.code), func(t *testing.T) {
			h2 := newFeedHarness(t)
			h2.startStream(h2.feedConfig("ws://"+r.addr+"/graphql", `
protocol = "graphql-transport-ws"
  [stream.auth]
  mode = "message"
  token_env = "HOLDFAST_TEST_GQL_TOKEN"
  [stream.reconnect]
  initial_delay = "100ms"
  max_delay = "5s"
  jitter = "none"
  [[stream.subscribe]]
  query = "subscription { ticks { seq } }"`), "s1")
			h2.expectState(messages.StateConnected)
			r.do(http.MethodPost, fmt.Sprintf("/close?code=%d", tt.code))
			st := h2.expectState(tt.state)
			if !strings.Contains(st.LastError, fmt.Sprint(tt.code)) || st.RetryIn < tt.atLeast ||
				(tt.atLeast == 0 && tt.state == messages.StateBackoff && st.RetryIn >= 5*time.Second) {
				t.Errorf("after close %d: state %s, retry in %v, last error %q; want retry in at least %v",
					tt.code, st.State, st.RetryIn, st.LastError, tt.atLeast)
			}
		})
	}

	t.Run("a silent subscription reconnects", func(t *testing.T) {
		h2 := newFeedHarness(t)
		h2.startStream(h2.feedConfig("ws://"+r.addr+"/graphql", `
protocol = "graphql-transport-ws"
  [stream.auth]
  mode = "message"
  token_env = "HOLDFAST_TEST_GQL_TOKEN"
  [stream.heartbeat]
  stale_after = "1s"
  [[stream.subscribe]]
  query = "subscription { ticks(since: 1000000) { seq } }"`), "s1")
		h2.expectState(messages.StateConnected)
		st := h2.expectState(messages.StateBackoff)
		if !strings.Contains(st.LastError, "no events") || strings.Contains(st.LastError, "4409") {
			t.Errorf("last error %q, want a stale link, not a refused second subscribe", st.LastError)
		}
	})

	t.Run("refused token is an auth failure", func(t *testing.T) {
		t.Setenv("HOLDFAST_TEST_GQL_TOKEN", "wrong")
		h2 := newFeedHarness(t)
		h2.startStream(h2.feedConfig("ws://"+r.addr+"/graphql", `
protocol = "graphql-transport-ws"
  [stream.auth]
  mode = "message"
  token_env = "HOLDFAST_TEST_GQL_TOKEN"
  [[stream.subscribe]]
  query = "subscription { ticks { seq } }"`), "s1")
		st := h2.expectState(messages.StateAuthFailed)
		if !strings.Contains(st.LastError, "4403") {
			t.Errorf("last error %q, want the 4403 close", st.LastError)
		}
	})
}

type socketIOState struct {
	Connections, Refused, TurnedAway, Published, Open, Pongs int
	Auths                                                    []struct{ Since *int }
	Joins                                                    []map[string]any
	Received                                                 []map[string]any
	Acked                                                    []int
}

// TestSocketIOReferenceServer runs the stream against socket.io's own server: Engine.IO v4
// with the server's ping every second answered, the /feed namespace with the token and the
// resume point in its auth payload, a subscribe event, events routed by name and acked when
// the server asks, three drops mid-stream with every event once and in order, and queued
// messages emitted as events.
func TestSocketIOReferenceServer(t *testing.T) {
	const token = "sio-test-token"
	r := startReference(t, "socketio.mjs", "FEED_TOKEN="+token, "PING_INTERVAL=250", "PING_TIMEOUT=2000")
	t.Setenv("HOLDFAST_TEST_SIO_TOKEN", token)
	h := newFeedHarness(t)
	pid := h.startStream(h.feedConfig("ws://"+r.addr, `
protocol = "socket.io"
  [stream.auth]
  mode = "message"
  token_env = "HOLDFAST_TEST_SIO_TOKEN"
  timeout = "30s"
  [stream.socketio]
  namespace = "/feed"
  auth = { since = "${cursor}" }
  [stream.framing]
  cursor_path = "/1/seq"
  [stream.reconnect]
  initial_delay = "50ms"
  max_delay = "200ms"
  [[stream.subscribe]]
  event = "join"
  message = { room = "ticks" }`), "s1")
	h.expectState(messages.StateConnected)

	events := filepath.Join(h.dir, "events.jsonl")
	seqs := func() []int {
		return typedSeqs(t, events, "tick", func(m json.RawMessage) int {
			var args []json.RawMessage
			var tick struct{ Seq int }
			if json.Unmarshal(m, &args) == nil && len(args) > 1 {
				_ = json.Unmarshal(args[1], &tick)
			}
			return tick.Seq
		})
	}
	var st socketIOState
	connections := func() int { r.state(&st); return st.Connections }
	total := dropSeveralTimes(t, r, seqs, connections)
	// Every tick asks for an ack. Acks still pending when a link dropped are lost with it; on
	// the last socket, which stays up, every event is acknowledged once its sink took it.
	await(t, "the ack of the last event", 60*time.Second, func() bool {
		r.state(&st)
		return slices.Contains(st.Acked, total)
	})
	if len(st.Acked) < total/2 {
		t.Errorf("%d acks for %d events", len(st.Acked), total)
	}

	// Queued messages: three on the open link, three more while it is down.
	for i := 1; i <= 3; i++ {
		h.mustEnqueueRaw(pid, fmt.Sprintf(`{"n":%d}`, i))
	}
	await(t, "the first queued messages at the server", 60*time.Second, func() bool { r.state(&st); return len(st.Received) >= 3 })
	r.pauseAfterDrop(func() int { r.state(&st); return st.TurnedAway })
	for i := 4; i <= 6; i++ {
		h.mustEnqueueRaw(pid, fmt.Sprintf(`{"n":%d}`, i))
	}
	r.resume()
	await(t, "every queued message at the server", 60*time.Second, func() bool { r.state(&st); return len(st.Received) >= 6 })
	for i, m := range st.Received {
		if n, _ := m["n"].(float64); int(n) != i+1 {
			t.Errorf("message %d = %v, want n=%d (in order)", i, m, i+1)
		}
	}
	r.state(&st)
	if len(st.Joins) != st.Connections {
		t.Errorf("%d join events for %d connections", len(st.Joins), st.Connections)
	}
	for i, a := range st.Auths[1:] {
		if a.Since == nil || *a.Since < 1 {
			t.Errorf("reconnect %d does not resume: auth since %v", i+1, a.Since)
		}
	}
	// The server pings every 250ms and drops a client that does not answer within 2s: the
	// link outlives several of its pings, with every one answered.
	pongs := st.Pongs
	await(t, "ten more answered pings", 60*time.Second, func() bool { r.state(&st); return st.Pongs >= pongs+10 })
	if want := 5; st.Connections != want { // the first, three drops in dropSeveralTimes, one pause
		t.Errorf("%d connections, want %d: the server's pings were not answered in time", st.Connections, want)
	}

	t.Run("refused token is an auth failure", func(t *testing.T) {
		t.Setenv("HOLDFAST_TEST_SIO_TOKEN", "wrong")
		h2 := newFeedHarness(t)
		h2.startStream(h2.feedConfig("ws://"+r.addr, `
protocol = "socket.io"
  [stream.auth]
  mode = "message"
  token_env = "HOLDFAST_TEST_SIO_TOKEN"
  [stream.socketio]
  namespace = "/feed"`), "s1")
		st := h2.expectState(messages.StateAuthFailed)
		if !strings.Contains(st.LastError, "bad token") {
			t.Errorf("last error %q, want the server's reason", st.LastError)
		}
	})
}

// mustEnqueueRaw queues one outbound message as it is.
func (h *harness) mustEnqueueRaw(stream *actor.PID, msg string) {
	h.t.Helper()
	if e := h.enqueue(stream, msg); e.Err != nil {
		h.t.Fatalf("enqueue %s: %v", msg, e.Err)
	}
}
