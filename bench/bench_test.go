package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

// TestMain ignores protoactor's dead-letter throttle: a library timer goroutine that ends by
// itself a second after the last dead letter (messages to actors already stopped at shutdown).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

func testLog(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestThroughputSmoke(t *testing.T) {
	for _, target := range []string{TargetCeiling, TargetHoldfast} {
		for _, size := range []int{200, 2048} {
			t.Run(target, func(t *testing.T) {
				res, err := Throughput(testCtx(t), ThroughputConfig{Target: target, N: 2000, EventSize: size,
					Dir: t.TempDir(), FlushInterval: 10 * time.Millisecond, Cursor: true, Log: testLog(t)})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%+v", res)
				if res.Lines != 2000 || res.EventsPerSec <= 0 || res.MBPerSecIn <= 0 || res.AllocsPerEvent <= 0 || res.PeakRSSMiB <= 0 {
					t.Errorf("implausible result %+v", res)
				}
				if res.FileBytes < int64(2000*size) {
					t.Errorf("file has %d bytes, want at least %d", res.FileBytes, 2000*size)
				}
			})
		}
	}
}

func TestLatencySmoke(t *testing.T) {
	for _, target := range []string{TargetCeiling, TargetHoldfast} {
		t.Run(target, func(t *testing.T) {
			res, err := Latency(testCtx(t), LatencyConfig{Target: target, Rate: 2000, N: 1000, Dir: t.TempDir(),
				FlushInterval: 10 * time.Millisecond, Log: testLog(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			if res.Lines != 1000 || res.File.P50 <= 0 || res.File.P999 < res.File.P50 || res.File.Max < res.File.P999 {
				t.Errorf("implausible result %+v", res)
			}
			if (target == TargetHoldfast) != (res.Read != nil) {
				t.Errorf("read latency %v for %s", res.Read, target)
			}
		})
	}
}

func TestIdleSmoke(t *testing.T) {
	res, err := Idle(testCtx(t), IdleConfig{Dir: t.TempDir(), Wait: 200 * time.Millisecond, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.RSSMiB <= 0 || res.PeakRSSMiB < res.RSSMiB || res.HeapInuseMiB <= 0 || res.Goroutines <= 0 {
		t.Errorf("implausible result %+v", res)
	}
}

func TestManyStreamsSmoke(t *testing.T) {
	res, err := ManyStreams(testCtx(t), StreamsConfig{Dir: t.TempDir(), Streams: 20, Heartbeat: 200 * time.Millisecond,
		Window: time.Second, Settle: 100 * time.Millisecond, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Connected != 20 || res.RSSMiB <= 0 || res.CPUPercent < 0 || res.WindowSeconds < 1 {
		t.Errorf("implausible result %+v", res)
	}
}

func TestSlowSinkSmoke(t *testing.T) {
	res, err := SlowSink(testCtx(t), SlowSinkConfig{Dir: t.TempDir(), Delay: time.Millisecond, Duration: 600 * time.Millisecond,
		Every: 100 * time.Millisecond, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Samples < 1 || res.MinMiB <= 0 || res.MaxMiB < res.MinMiB || res.Delivered <= 0 || res.Published <= res.Delivered {
		t.Errorf("implausible result %+v", res)
	}
}

// checkTrials wants n trials whose times are positive and ordered (read before file).
func checkTrials(t *testing.T, res FaultResult, n int) {
	t.Helper()
	t.Logf("%+v", res)
	if len(res.Trials) != n {
		t.Fatalf("%d trials, want %d", len(res.Trials), n)
	}
	for _, tr := range res.Trials {
		if tr.ReadMs <= 0 || tr.FileMs < tr.ReadMs {
			t.Errorf("implausible trial %+v", tr)
		}
	}
}

func TestReconnectSmoke(t *testing.T) {
	res, err := Reconnect(testCtx(t), ReconnectConfig{Dir: t.TempDir(), Trials: 1, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkTrials(t, res, 1)
	if res.Trials[0].ReadMs < 100 {
		t.Errorf("first event %v ms after the drop, before the 100ms initial_delay", res.Trials[0].ReadMs)
	}
}

func TestHalfOpenSmoke(t *testing.T) {
	res, err := HalfOpen(testCtx(t), HalfOpenConfig{Dir: t.TempDir(), Trials: 1, Interval: 200 * time.Millisecond,
		Timeout: 400 * time.Millisecond, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkTrials(t, res, 1)
	// A ping already in flight at the freeze may start the 400ms deadline a little early.
	if res.Trials[0].DetectMs < 350 {
		t.Errorf("declared dead after %v ms, well before the 400ms timeout", res.Trials[0].DetectMs)
	}
}

func TestFallbackSmoke(t *testing.T) {
	toPoll, toWS, err := Fallback(testCtx(t), FallbackConfig{Dir: t.TempDir(), Trials: 1, RetryWS: 300 * time.Millisecond,
		PromoteAfter: 200 * time.Millisecond, PollInterval: 200 * time.Millisecond, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkTrials(t, toPoll, 1)
	checkTrials(t, toWS, 1)
	if toWS.Trials[0].PromoMs < 200 {
		t.Errorf("promoted %v ms after accepting again, before promote_after", toWS.Trials[0].PromoMs)
	}
}

// The Node.js clients read the same feed into the same kind of file. Without node (or
// without `npm ci` in testdata/node) they are skipped, except in CI, where .ci/run installs both.
func TestThroughputNodeSmoke(t *testing.T) {
	const dir = "testdata/node" // the test runs in the package's directory
	for _, target := range []string{TargetNode, TargetNodePlain} {
		t.Run(target, func(t *testing.T) {
			if why := NodeMissing(dir, target); why != "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("node client: %s", why)
				}
				t.Skipf("node client: %s", why)
			}
			res, err := Throughput(testCtx(t), ThroughputConfig{Target: target, N: 2000, EventSize: 200,
				Dir: t.TempDir(), NodeDir: dir, Log: testLog(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			if res.Skipped != "" || !res.ClientProcess || res.Lines != 2000 || res.EventsPerSec <= 0 || res.CPUSeconds <= 0 || res.PeakRSSMiB <= 0 {
				t.Errorf("implausible result %+v", res)
			}
			if res.FileBytes != 2000*201 {
				t.Errorf("file has %d bytes, want %d (2000 frames of 200 B, each with a newline)", res.FileBytes, 2000*201)
			}
		})
	}
}

func TestThroughputNodeSkippedWithoutClient(t *testing.T) {
	res, err := Throughput(testCtx(t), ThroughputConfig{Target: TargetNode, N: 10, Dir: t.TempDir(),
		NodeDir: t.TempDir(), Log: testLog(t)})
	if err != nil || res.Skipped == "" {
		t.Fatalf("no client in the directory: got %+v, %v; want a skipped result saying why", res, err)
	}
}
