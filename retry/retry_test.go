package retry_test

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"holdfast/config"
	"holdfast/retry"
)

// fixedRand draws a fixed fraction of n, so jitter is exact in tests.
func fixedRand(frac float64) retry.Rand {
	return func(n time.Duration) time.Duration {
		if n <= 0 {
			return 0
		}
		return min(time.Duration(float64(n)*frac), n-1)
	}
}

func TestBackoffDelay(t *testing.T) {
	b := retry.Backoff{Min: time.Second, Max: 30 * time.Second, Multiplier: 2}
	for _, tt := range []struct {
		name    string
		attempt int
		want    time.Duration
	}{
		{"first retry waits Min", 1, time.Second},
		{"doubles each attempt", 3, 4 * time.Second},
		{"just under the cap", 5, 16 * time.Second},
		{"capped at Max", 6, 30 * time.Second},
		{"stays capped", 60, 30 * time.Second},
		{"attempt 0 is treated as 1", 0, time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.Delay(tt.attempt); got != tt.want {
				t.Errorf("Delay(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestBackoffMultiplier(t *testing.T) {
	b := retry.Backoff{Min: 100 * time.Millisecond, Max: time.Minute, Multiplier: 1.5}
	want := []time.Duration{100 * time.Millisecond, 150 * time.Millisecond, 225 * time.Millisecond, 337500 * time.Microsecond}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) with multiplier 1.5 = %v, want %v", i+1, got, w)
		}
	}
}

func TestJitterModes(t *testing.T) {
	cfg := func(j config.Jitter) config.BackoffConfig {
		return config.BackoffConfig{InitialDelay: config.Duration{Duration: time.Second},
			MaxDelay: config.Duration{Duration: 8 * time.Second}, Multiplier: 2, Jitter: j}
	}
	for _, tt := range []struct {
		name    string
		jitter  config.Jitter
		frac    float64 // what the injected randomness draws, as a fraction of its range
		attempt int
		want    time.Duration
	}{
		{"none keeps the delay", "none", 0.9, 2, 2 * time.Second},
		{"full at the low end is 0", "full", 0, 2, 0},
		{"full at the top is the delay", "full", 1, 2, 2 * time.Second},
		{"full halfway", "full", 0.5, 3, 2 * time.Second},
		{"equal at the low end is half", "equal", 0, 2, time.Second},
		{"equal at the top is the delay", "equal", 1, 2, 2 * time.Second},
		{"additive adds the draw", "500ms", 0.5, 1, time.Second + 250*time.Millisecond},
		{"additive at the cap still jitters", "1s", 0.5, 10, 8*time.Second + 500*time.Millisecond},
		{"equal at the cap still jitters", "equal", 0.25, 10, 4*time.Second + 1*time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := retry.FromConfig(cfg(tt.jitter), fixedRand(tt.frac))
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Delay(tt.attempt); got != tt.want {
				t.Errorf("jitter %q draw %.2f: Delay(%d) = %v, want %v", tt.jitter, tt.frac, tt.attempt, got, tt.want)
			}
		})
	}
	if _, err := retry.ParseJitter("sometimes", fixedRand(0)); err == nil {
		t.Error(`ParseJitter("sometimes") gave no error`)
	}
}

// TestJitterSpreadsClientsAtTheCap simulates many clients that have all reached max_delay:
// with jitter drawn after the cap, no 100 ms bucket of their retry times holds more than a
// few percent of them, so a restarted server is not stampeded.
func TestJitterSpreadsClientsAtTheCap(t *testing.T) {
	const clients = 10000
	const bucket = 100 * time.Millisecond
	for _, mode := range []config.Jitter{config.JitterEqual, config.JitterFull, "5s"} {
		t.Run(string(mode), func(t *testing.T) {
			b, err := retry.FromConfig(config.BackoffConfig{InitialDelay: config.Duration{Duration: time.Second},
				MaxDelay: config.Duration{Duration: 30 * time.Second}, Multiplier: 2, Jitter: mode}, seededRand(7))
			if err != nil {
				t.Fatal(err)
			}
			buckets := map[time.Duration]int{}
			for range clients {
				buckets[b.Delay(20)/bucket]++ // attempt 20 is far past the cap
			}
			worst := 0
			for _, n := range buckets {
				worst = max(worst, n)
			}
			if share := float64(worst) / clients; share > 0.03 {
				t.Errorf("jitter %q: busiest %v bucket holds %.1f%% of %d clients, want at most 3%%", mode, bucket, share*100, clients)
			}
			noJitter := retry.Backoff{Min: time.Second, Max: 30 * time.Second}
			if noJitter.Delay(20) != 30*time.Second {
				t.Fatalf("without jitter every client waits exactly the cap; got %v", noJitter.Delay(20))
			}
		})
	}
}

// seededRand is a reproducible uniform source, so the statistical test gives the same answer
// on every run.
func seededRand(seed uint64) retry.Rand {
	r := rand.New(rand.NewPCG(seed, seed))
	return func(n time.Duration) time.Duration {
		if n <= 0 {
			return 0
		}
		return time.Duration(r.Int64N(int64(n)))
	}
}

// TestBackoffNeverOverflows: without a cap, or with attempts far past it, the delay
// saturates instead of wrapping to a negative or absurd value.
func TestBackoffNeverOverflows(t *testing.T) {
	for _, tt := range []struct {
		name    string
		b       retry.Backoff
		attempt int
		want    time.Duration
	}{
		{"no cap, small attempt", retry.Backoff{Min: time.Second}, 11, 1024 * time.Second},
		{"no cap, huge attempt", retry.Backoff{Min: time.Second}, 1000, retry.Forever},
		{"capped, huge attempt", retry.Backoff{Min: time.Second, Max: time.Minute}, 1 << 30, time.Minute},
		{"Min above Max", retry.Backoff{Min: 2 * time.Minute, Max: time.Minute}, 1, time.Minute},
		{"zero Min", retry.Backoff{Max: time.Minute}, 5, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Capped(tt.attempt); got != tt.want {
				t.Errorf("%+v.Capped(%d) = %v, want %v", tt.b, tt.attempt, got, tt.want)
			}
		})
	}
}

// TestHint covers the one reader of server wait hints: seconds or an HTTP date, never
// negative, never overflowing, and never above the caller's limit.
func TestHint(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const limit = 5 * time.Minute
	for _, tt := range []struct {
		value string
		now   time.Time
		limit time.Duration
		want  time.Duration
	}{
		{"", now, limit, 0},
		{"120", now, limit, 2 * time.Minute},
		{" 3 ", now, limit, 3 * time.Second},
		{"0", now, limit, 0},
		{"-5", now, limit, 0},
		{"1.5", now, limit, 0},
		{"soon", now, limit, 0},
		{"31536000", now, limit, limit},                                // a year: capped
		{"99999999999", now, limit, limit},                             // overflows a Duration in seconds: capped
		{"99999999999", now, retry.Forever, retry.Forever},             // saturates, never wraps
		{"99999999999999999999999", now, retry.Forever, retry.Forever}, // beyond int64
		{"31536000", now, 0, 0},                                        // a limit of 0 ignores hints
		{"120", now, -time.Second, 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), now, limit, 90 * time.Second},
		{now.Add(90 * time.Second).Format(time.RFC850), now, limit, 90 * time.Second},
		{now.Add(24 * time.Hour).Format(http.TimeFormat), now, limit, limit},
		{now.Add(-time.Hour).Format(http.TimeFormat), now, limit, 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), time.Time{}, limit, 0},
	} {
		if got := retry.Hint(tt.value, tt.now, tt.limit); got != tt.want {
			t.Errorf("Hint(%q, %v, %v) = %v, want %v", tt.value, tt.now, tt.limit, got, tt.want)
		}
	}
}

// TestRetryAfterUsesTheServersDate: an HTTP date is measured against the response's Date
// header when there is one, so a skewed local clock does not matter.
func TestRetryAfterUsesTheServersDate(t *testing.T) {
	server := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	local := server.Add(-time.Hour) // an hour behind
	h := http.Header{}
	h.Set("Retry-After", server.Add(30*time.Second).Format(http.TimeFormat))
	if got := retry.RetryAfter(h, local, time.Hour); got != time.Hour {
		t.Errorf("without Date, measured from the local clock: got %v, want the 1h limit", got)
	}
	h.Set("Date", server.Format(http.TimeFormat))
	if got := retry.RetryAfter(h, local, time.Hour); got != 30*time.Second {
		t.Errorf("with Date: got %v, want 30s", got)
	}
	if got := retry.RetryAfter(h, time.Time{}, time.Hour); got != 30*time.Second {
		t.Errorf("with Date and no local clock: got %v, want 30s", got)
	}
	h.Set("Retry-After", "7")
	if got := retry.RetryAfter(h, time.Time{}, time.Hour); got != 7*time.Second {
		t.Errorf("seconds: got %v, want 7s", got)
	}
}
