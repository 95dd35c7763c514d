package queue

import (
	"path/filepath"
	"testing"

	"holdfast/config"
)

// benchMsg is a typical outbound message: a small JSON object.
var benchMsg = []byte(`{"type":"subscribe","channel":"orders","id":"0123456789abcdef0123456789"}`)

func benchQueue(b *testing.B, durable bool, cfg config.QueueConfig) *Queue {
	b.Helper()
	var s Store
	if durable {
		bs, err := OpenBolt(filepath.Join(b.TempDir(), "q.db"))
		if err != nil {
			b.Fatal(err)
		}
		s = bs
	}
	q, err := New(cfg, s)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close() })
	return q
}

func benchPush(b *testing.B, durable bool, batch int) {
	q := benchQueue(b, durable, qcfg(1<<30, 1<<40, "reject", 0)) // never full: pure appends
	msgs := make([][]byte, batch)
	for i := range msgs {
		msgs[i] = benchMsg
	}
	b.SetBytes(int64(batch * len(benchMsg)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := q.Push(msgs, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkBoltPush commits one message per transaction (one fsync each).
func BenchmarkBoltPush(b *testing.B) { benchPush(b, true, 1) }

// BenchmarkBoltPushBatch100 commits 100 messages per transaction.
func BenchmarkBoltPushBatch100(b *testing.B) { benchPush(b, true, 100) }

func BenchmarkMemoryPush(b *testing.B) { benchPush(b, false, 1) }

// benchFlush measures draining: Peek a window of n, then ack it (n == 1: Ack, else AckUpTo).
// Each op is one Peek and one store transaction; refills happen outside the timer.
func benchFlush(b *testing.B, durable bool, window int) {
	q := benchQueue(b, durable, qcfg(10000, 16<<20, "reject", 0)) // the default bounds
	fill := make([][]byte, 1000)
	for i := range fill {
		fill[i] = benchMsg
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if q.Len() < window {
			b.StopTimer()
			for q.Len() < 5000 {
				if _, err := q.Push(fill, t0); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		live, _ := q.Peek(window, t0)
		var err error
		if window == 1 {
			err = q.Ack(live[0].ID)
		} else {
			_, err = q.AckUpTo(live[len(live)-1].ID)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*window)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkBoltAck is Peek(1) + Ack: one transaction per sent message.
func BenchmarkBoltAck(b *testing.B) { benchFlush(b, true, 1) }

// BenchmarkBoltFlush100 is Peek(100) + AckUpTo: one transaction per 100 sent messages.
func BenchmarkBoltFlush100(b *testing.B) { benchFlush(b, true, 100) }

func BenchmarkMemoryAck(b *testing.B) { benchFlush(b, false, 1) }
