package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"holdfast/actors"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/wire"
)

// frame returns an upstream-like event padded to size bytes, as upstream.Options.EventSize pads.
func frame(size int) []byte {
	b := []byte(`{"current_file":"scan_0007.tif","eta":"3s","job":"job-12","progress":14.3,"seq":123456,"sent_at":1764288000123456789,"type":"processing_progress"`)
	if pad := size - len(b) - len(`,"pad":""}`); pad > 0 {
		b = append(b, `,"pad":"`...)
		b = append(b, strings.Repeat("x", pad)...)
		b = append(b, '"')
	}
	return append(b, '}')
}

var sizes = []int{200, 2048}

func BenchmarkParseFrame(b *testing.B) {
	for _, n := range sizes {
		data := frame(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				wire.ParseFrame(data, "seq")
			}
		})
	}
}

// BenchmarkParseFrameTypes is ParseFrame as the reader calls it: type names interned and
// cursors kept in shared blocks, so it allocates nothing per frame.
func BenchmarkParseFrameTypes(b *testing.B) {
	for _, n := range sizes {
		data := frame(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var types wire.Types
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				wire.ParseFrameTypes(data, "seq", &types)
			}
		})
	}
}

// BenchmarkJSONValid is encoding/json's validator alone: what ParseFrame cost before it
// validated in its own single pass, kept as the yardstick for BenchmarkParseFrame.
func BenchmarkJSONValid(b *testing.B) {
	for _, n := range sizes {
		data := frame(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				json.Valid(data)
			}
		})
	}
}

func BenchmarkAppendEnvelope(b *testing.B) {
	at := time.Now()
	for _, n := range sizes {
		data := frame(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				// As the router calls it: a fresh line per event, sized for the envelope.
				_ = wire.AppendEnvelope(make([]byte, 0, len(data)+160), "bench", "processing_progress", messages.ViaWebSocket, at, data)
			}
		})
	}
}

// BenchmarkReadFrame compares how the reader gets a frame's bytes: gorilla's ReadMessage
// (io.ReadAll, which starts at 512 B and grows) against the reader's own loop
// (actors.ReadAppend into a scratch buffer it keeps) and one copy into an exact-size slice.
func BenchmarkReadFrame(b *testing.B) {
	for _, n := range sizes {
		data := frame(n)
		b.Run("ReadAll/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			r := bytes.NewReader(data)
			for b.Loop() {
				r.Reset(data)
				if _, err := io.ReadAll(r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Scratch/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			r := bytes.NewReader(data)
			var scratch []byte
			for b.Loop() {
				r.Reset(data)
				var err error
				if scratch, err = actors.ReadAppend(r, scratch[:0]); err != nil {
					b.Fatal(err)
				}
				_ = bytes.Clone(scratch)
			}
		})
	}
}

func BenchmarkTimeAppendRFC3339Nano(b *testing.B) {
	at := time.Now()
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = at.UTC().AppendFormat(buf[:0], time.RFC3339Nano)
	}
}

// BenchmarkMetricsEventIn is the per-event counter the router bumps (metrics.EventIn: a
// mutex, two map lookups and CounterVec.WithLabelValues, which hashes the labels), against
// a counter the router would look up once per type and keep.
func BenchmarkMetricsEventIn(b *testing.B) {
	m := metrics.New()
	b.Run("EventIn", func(b *testing.B) {
		for b.Loop() {
			m.EventIn("bench", "processing_progress")
		}
	})
	b.Run("CachedCounter", func(b *testing.B) {
		cache := map[string]prometheus.Counter{}
		for b.Loop() {
			c, ok := cache["processing_progress"]
			if !ok {
				c = m.EventsIn.WithLabelValues("bench", "processing_progress")
				cache["processing_progress"] = c
			}
			c.Inc()
		}
	})
}

// BenchmarkActorHop is the cost of one event crossing one actor boundary as the pipeline
// does (root.Send into a bounded mailbox, received by the actor), next to a buffered Go
// channel between two goroutines. Each op is one message sent and received.
func BenchmarkActorHop(b *testing.B) {
	for _, mb := range []struct {
		name  string
		props func(actor.ReceiveFunc) *actor.Props
	}{
		{"Bounded256", func(f actor.ReceiveFunc) *actor.Props {
			return actor.PropsFromFunc(f, actor.WithMailbox(actor.Bounded(256)))
		}},
		{"Unbounded", func(f actor.ReceiveFunc) *actor.Props { return actor.PropsFromFunc(f) }},
	} {
		b.Run(mb.name, func(b *testing.B) {
			sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
				return slog.New(slog.DiscardHandler)
			}))
			defer sys.Shutdown()
			var got atomic.Int64
			done := make(chan struct{})
			want := int64(b.N)
			pid := sys.Root.Spawn(mb.props(func(ctx actor.Context) {
				if _, ok := ctx.Message().(*messages.Deliver); ok && got.Add(1) == want {
					close(done)
				}
			}))
			msg := &messages.Deliver{}
			b.ResetTimer()
			for range b.N {
				sys.Root.Send(pid, msg)
			}
			<-done
			b.StopTimer()
			_ = sys.Root.StopFuture(pid).Wait()
		})
	}
	b.Run("Chan256", func(b *testing.B) {
		ch, done := make(chan *messages.Deliver, 256), make(chan struct{})
		go func() {
			for range ch {
			}
			close(done)
		}()
		msg := &messages.Deliver{}
		for range b.N {
			ch <- msg
		}
		close(ch)
		<-done
	})
}
