package supervisor

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"holdfast/config"
	"holdfast/messages"
)

// policyConfig is a stream whose reconnect schedule is 1s, 2s, 4s, 8s (cap), without jitter,
// stable after 30s, honouring hints up to 5m.
func policyConfig(mods ...func(*config.StreamConfig)) config.StreamConfig {
	sc := config.DefaultStreamConfig()
	sc.Reconnect.InitialDelay.Duration = time.Second
	sc.Reconnect.MaxDelay.Duration = 8 * time.Second
	sc.Reconnect.Jitter = "none"
	sc.Reconnect.StableAfter.Duration = 30 * time.Second
	sc.Reconnect.MaxHint.Duration = 5 * time.Minute
	for _, m := range mods {
		m(&sc)
	}
	return sc
}

func maxAttempts(n int) func(*config.StreamConfig) {
	return func(sc *config.StreamConfig) { sc.Reconnect.MaxAttempts = n }
}

func withFallback(sc *config.StreamConfig) {
	fb := config.DefaultFallbackConfig()
	fb.RetryWebsocketEvery.Duration = time.Minute
	sc.Fallback = &fb
}

func stopOnAuth(sc *config.StreamConfig) { sc.Auth.OnFailure = "stop" }

var (
	transient = &messages.Failure{Kind: messages.Transient, Err: errors.New("read: EOF")}
	refused   = &messages.Failure{Kind: messages.AuthRejected, Err: errors.New("status 401")}
)

func hinted(d time.Duration) *messages.Failure {
	return &messages.Failure{Kind: messages.Transient, Err: errors.New("status 503"), Hint: d}
}

func closed(code int, hint time.Duration) *messages.Failure {
	return &messages.Failure{Kind: messages.Transient, Err: fmt.Errorf("close %d", code), CloseCode: code, Hint: hint,
		SlowDown: code == 1013 || code == 4429}
}

// step is one event the policy sees: optionally a link that was up for upFor, then a failure.
type step struct {
	upFor   time.Duration // > 0: the link was ready this long before failing
	polling bool
	f       *messages.Failure
	want    Decision
	attempt int // the attempt count after the decision
}

// TestReconnectDecision is the whole reconnect policy as a table: config, attempts, link age
// and failure in; action, delay and state out. No actor system, no clock.
func TestReconnectDecision(t *testing.T) {
	backoff := func(d time.Duration) Decision {
		return Decision{Action: Redial, Delay: d, State: messages.StateBackoff}
	}
	for _, tt := range []struct {
		name  string
		sc    config.StreamConfig
		steps []step
	}{
		{"backoff doubles to max_delay", policyConfig(), []step{
			{f: transient, want: backoff(time.Second), attempt: 1},
			{f: transient, want: backoff(2 * time.Second), attempt: 2},
			{f: transient, want: backoff(4 * time.Second), attempt: 3},
			{f: transient, want: backoff(8 * time.Second), attempt: 4},
			{f: transient, want: backoff(8 * time.Second), attempt: 5},
		}},
		{"a flapping link keeps counting", policyConfig(), []step{
			{f: transient, want: backoff(time.Second), attempt: 1},
			{upFor: 29 * time.Second, f: transient, want: backoff(2 * time.Second), attempt: 2},
		}},
		{"a stable link resets the attempts", policyConfig(), []step{
			{f: transient, want: backoff(time.Second), attempt: 1},
			{f: transient, want: backoff(2 * time.Second), attempt: 2},
			{upFor: 30 * time.Second, f: transient, want: backoff(time.Second), attempt: 1},
		}},
		{"a hint longer than the backoff is honoured", policyConfig(), []step{
			{f: hinted(7 * time.Second), want: backoff(7 * time.Second), attempt: 1},
		}},
		{"a hint never shortens the backoff", policyConfig(), []step{
			{f: transient, want: backoff(time.Second), attempt: 1},
			{f: transient, want: backoff(2 * time.Second), attempt: 2},
			{f: hinted(time.Second), want: backoff(4 * time.Second), attempt: 3},
		}},
		{"a year's Retry-After is capped at max_hint", policyConfig(), []step{
			{f: hinted(365 * 24 * time.Hour), want: backoff(5 * time.Minute), attempt: 1},
		}},
		{"an overflowing hint is capped at max_hint", policyConfig(), []step{
			{f: hinted(time.Duration(1<<63 - 1)), want: backoff(5 * time.Minute), attempt: 1},
		}},
		{"max_hint 0 ignores hints", policyConfig(func(sc *config.StreamConfig) { sc.Reconnect.MaxHint.Duration = 0 }), []step{
			{f: hinted(time.Hour), want: backoff(time.Second), attempt: 1},
		}},
		{"close 1013 waits at least max_delay", policyConfig(), []step{
			{f: closed(1013, 0), want: backoff(8 * time.Second), attempt: 1},
		}},
		{"close 1013 with a reason in seconds", policyConfig(), []step{
			{f: closed(1013, 20*time.Second), want: backoff(20 * time.Second), attempt: 1},
		}},
		{"close 1013 asking for a year is capped", policyConfig(), []step{
			{f: closed(1013, 31536000*time.Second), want: backoff(5 * time.Minute), attempt: 1},
		}},
		{"GraphQL's too many inits slows down too", policyConfig(), []step{
			{f: closed(4429, 0), want: backoff(8 * time.Second), attempt: 1},
		}},
		{"another close code backs off as usual", policyConfig(), []step{
			{f: closed(1001, 0), want: backoff(time.Second), attempt: 1},
		}},
		{"hinted waits count as attempts, so attempts run out", policyConfig(maxAttempts(2)), []step{
			{f: hinted(time.Hour), want: backoff(5 * time.Minute), attempt: 1},
			{f: hinted(time.Hour), want: backoff(5 * time.Minute), attempt: 2},
			{f: hinted(time.Hour), want: Decision{Action: GiveUp, State: messages.StateFailed}, attempt: 3},
		}},
		{"giving up with a fallback polls and probes", policyConfig(maxAttempts(1), withFallback), []step{
			{f: hinted(31536000 * time.Second), want: backoff(5 * time.Minute), attempt: 1},
			{f: transient, want: Decision{Action: GiveUp, Delay: time.Minute, State: messages.StatePolling}, attempt: 2},
			{polling: true, f: hinted(time.Hour), want: Decision{Action: Probe, Delay: time.Minute, State: messages.StatePolling}, attempt: 2},
			{polling: true, f: transient, want: Decision{Action: Probe, Delay: time.Minute, State: messages.StatePolling}, attempt: 2},
		}},
		{"a probe that was up stable_after resets the count", policyConfig(maxAttempts(1), withFallback), []step{
			{f: transient, want: backoff(time.Second), attempt: 1},
			{upFor: time.Minute, polling: true, f: transient, want: Decision{Action: Probe, Delay: time.Minute, State: messages.StatePolling}, attempt: 0},
		}},
		{"a refused token retries at max_delay", policyConfig(), []step{
			{f: refused, want: Decision{Action: Redial, Delay: 8 * time.Second, State: messages.StateAuthFailed}, attempt: 1},
			{f: refused, want: Decision{Action: Redial, Delay: 8 * time.Second, State: messages.StateAuthFailed}, attempt: 2},
		}},
		{"a refused token never gives up", policyConfig(maxAttempts(1)), []step{
			{f: refused, want: Decision{Action: Redial, Delay: 8 * time.Second, State: messages.StateAuthFailed}, attempt: 1},
			{f: refused, want: Decision{Action: Redial, Delay: 8 * time.Second, State: messages.StateAuthFailed}, attempt: 2},
		}},
		{"a refused token with a hint waits for it, capped", policyConfig(), []step{
			{f: &messages.Failure{Kind: messages.AuthRejected, Err: errors.New("401"), Hint: time.Hour},
				want: Decision{Action: Redial, Delay: 5 * time.Minute, State: messages.StateAuthFailed}, attempt: 1},
		}},
		{"on_failure stop halts", policyConfig(stopOnAuth), []step{
			{f: refused, want: Decision{Action: Halt, State: messages.StateAuthFailed}, attempt: 1},
		}},
		{"on_failure stop does not halt on a transient failure", policyConfig(stopOnAuth), []step{
			{f: transient, want: backoff(time.Second), attempt: 1},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newReconnect(tt.sc, nil)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(1000, 0)
			for i, s := range tt.steps {
				if s.upFor > 0 {
					r.up(now)
					now = now.Add(s.upFor)
				}
				got := r.next(now, s.polling, s.f)
				if got != s.want || r.attempts != s.attempt {
					t.Fatalf("step %d: next(up %v, polling %v, %+v) = %+v with %d attempts, want %+v with %d",
						i+1, s.upFor, s.polling, *s.f, got, r.attempts, s.want, s.attempt)
				}
				now = now.Add(got.Delay)
			}
		})
	}
}

// TestReconnectDecisionJitter: the delay is jittered after the hint and the cap are applied
// to the backoff, and a hint is never jittered below itself.
func TestReconnectDecisionJitter(t *testing.T) {
	sc := policyConfig(func(sc *config.StreamConfig) { sc.Reconnect.Jitter = "equal" })
	r, err := newReconnect(sc, func(n time.Duration) time.Duration { return 0 }) // the low end
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	if d := r.next(now, false, transient); d.Delay != 500*time.Millisecond {
		t.Errorf("equal jitter at its low end: delay %v, want 500ms", d.Delay)
	}
	if d := r.next(now, false, hinted(time.Minute)); d.Delay != time.Minute {
		t.Errorf("hinted: delay %v, want the 1m hint", d.Delay)
	}
}
