package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// event is one published frame; history entries are never modified.
type event struct {
	seq  uint64
	data []byte // the event without padding
	pad  int    // length of the "pad" field's value added on the wire (see writePadded)
}

const (
	padPrefix = `,"pad":"`
	padChunk  = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
)

// Publish sends an event of type typ with fields (plus "type", "seq" and "sent_at") to every
// subscribed connection, stores it for replay and /poll, and returns its seq. It blocks
// while any subscribed connection's queue is full, so publishers go as fast as the slowest
// reader (frozen connections excepted); Close releases it. Fields that encoding/json cannot
// encode are a bug in the caller and panic.
func (s *Server) Publish(typ string, fields map[string]any) uint64 {
	return s.publish(context.Background(), typ, fields)
}

// publish is Publish where a ctx that ends while a connection blocks drops that connection.
func (s *Server) publish(ctx context.Context, typ string, fields map[string]any) uint64 {
	return s.publishWith(ctx, func(seq uint64) []byte { return s.encode(typ, seq, fields) })
}

// publishWith publishes the event that encode builds for the next seq.
func (s *Server) publishWith(ctx context.Context, encode func(seq uint64) []byte) uint64 {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	seq := s.LastSeq() + 1 // only publishers move seq, and they hold pubMu
	data := encode(seq)
	ev := event{seq: seq, data: data, pad: padLen(len(data), s.opts.EventSize)}

	s.mu.Lock()
	s.seq = seq
	s.history = append(s.history, ev)
	if len(s.history) >= 2*s.opts.History { // trim by copying: readers may hold the old array
		s.history = append([]event(nil), s.history[len(s.history)-s.opts.History:]...)
	}
	subs := s.subs
	s.notifyLocked()
	s.mu.Unlock()

	for _, c := range subs {
		c.enqueue(ctx, frame{typ: websocket.TextMessage, data: data, pad: ev.pad})
	}
	return seq
}

// PublishRaw sends frame as is (text, or binary when binary is set) to every subscribed
// connection, in order with events, without a seq and without storing it. For garbage,
// binary and type-less frames.
func (s *Server) PublishRaw(frameData []byte, binary bool) {
	typ := websocket.TextMessage
	if binary {
		typ = websocket.BinaryMessage
	}
	data := append([]byte(nil), frameData...)
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	for _, c := range get(s, func() []*conn { return s.subs }) {
		c.enqueue(context.Background(), frame{typ: typ, data: data})
	}
}

func (s *Server) encode(typ string, seq uint64, fields map[string]any) []byte {
	m := make(map[string]any, len(fields)+3)
	maps.Copy(m, fields)
	m["type"], m["seq"], m["sent_at"] = typ, seq, time.Now().UnixNano()
	data, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("upstream: encode %s event: %v", typ, err))
	}
	return data
}

// padLen is the length of the "pad" value that grows an object of n bytes to size bytes;
// 0 when it is already that large.
func padLen(n, size int) int {
	return max(size-n-len(padPrefix)-1, 0) // 1 for the pad's closing quote
}

// writePadded writes the non-empty JSON object data with a "pad" field of pad "x"s inserted before
// its closing brace. Padding is added on the wire so history holds natural-size events.
func writePadded(w io.Writer, data []byte, pad int) error {
	if pad == 0 {
		_, err := w.Write(data)
		return err
	}
	if _, err := w.Write(data[:len(data)-1]); err != nil {
		return err
	}
	if _, err := io.WriteString(w, padPrefix); err != nil {
		return err
	}
	for pad > 0 {
		n := min(pad, len(padChunk))
		if _, err := io.WriteString(w, padChunk[:n]); err != nil {
			return err
		}
		pad -= n
	}
	_, err := io.WriteString(w, `"}`)
	return err
}

// historyAfter returns the stored events with seq > since, oldest first. Callers hold s.mu;
// the result shares the history array, whose entries never change.
func (s *Server) historyAfter(since uint64) []event {
	h := s.history
	if len(h) == 0 || since >= h[len(h)-1].seq {
		return nil
	}
	if first := h[0].seq; since >= first { // seqs are contiguous
		h = h[since-first+1:]
	}
	return h
}

// job is one simulated processing job of Generate.
type job struct {
	id    string
	files int
	done  int
	start time.Time
}

// Generate publishes a processing simulation: a few jobs at a time, each a run of
// processing_progress events ending in processing_complete, or now and then in
// processing_error. rate is events per second (0 = as fast as the slowest reader allows);
// n is the number of events (0 = until ctx ends). It returns how many it published. When
// ctx ends while a connection blocks it, that connection is dropped so none sees a gap.
func (s *Server) Generate(ctx context.Context, rate, n int) int {
	stream := get(s, func() uint64 { s.gens++; return uint64(s.gens) })
	rnd := rand.New(rand.NewPCG(s.seed, stream))
	newJob := func() *job {
		id := get(s, func() int { s.jobs++; return s.jobs })
		return &job{id: fmt.Sprintf("job-%d", id), files: 5 + rnd.IntN(46), start: time.Now()}
	}
	jobs := []*job{newJob(), newJob(), newJob()}

	start, sent := time.Now(), 0
	for (n <= 0 || sent < n) && ctx.Err() == nil {
		if rate > 0 {
			due := start.Add(time.Duration(sent) * time.Second / time.Duration(rate))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return sent
				case <-t.C:
				}
			}
		}
		i := rnd.IntN(len(jobs))
		j := jobs[i]
		j.done++
		elapsed := time.Since(j.start)
		var ev generated
		switch {
		case rnd.IntN(100) == 0:
			ev = generated{typ: "processing_error", job: j, failed: true}
			jobs[i] = newJob()
		case j.done >= j.files:
			ev = generated{typ: "processing_complete", job: j, duration: elapsed.Round(time.Millisecond).String()}
			jobs[i] = newJob()
		default:
			eta := elapsed / time.Duration(j.done) * time.Duration(j.files-j.done)
			ev = generated{typ: "processing_progress", job: j, eta: eta.Round(time.Second).String(),
				progress: math.Round(1000*float64(j.done)/float64(j.files)) / 10}
		}
		s.publishWith(ctx, ev.encode)
		sent++
	}
	return sent
}

// generated is one event of Generate. Its encode writes what encoding/json would make of
// the same fields (keys sorted), without a map and reflection: the generator must keep up
// with a client reading a million events a second.
type generated struct {
	typ      string
	job      *job
	failed   bool    // processing_error
	duration string  // processing_complete
	eta      string  // processing_progress
	progress float64 // processing_progress
}

const generatedError = "decode failed: corrupt header"

func (g generated) encode(seq uint64) []byte {
	j := g.job
	b := make([]byte, 0, 192)
	file := func(b []byte) []byte {
		b = append(b, `"current_file":"scan_`...)
		if d := digits(j.done); d < 4 { // as fmt's %04d
			b = append(b, "000"[:4-d]...)
		}
		b = strconv.AppendInt(b, int64(j.done), 10)
		return append(b, `.tif",`...)
	}
	switch {
	case g.failed:
		b = append(b, '{')
		b = file(b)
		b = append(b, `"error":"`+generatedError+`","job":"`...)
		b = append(b, j.id...)
		b = append(b, `",`...)
	case g.duration != "":
		b = append(b, `{"duration":"`...)
		b = append(b, g.duration...)
		b = append(b, `","files":`...)
		b = strconv.AppendInt(b, int64(j.files), 10)
		b = append(b, `,"job":"`...)
		b = append(b, j.id...)
		b = append(b, `",`...)
	default:
		b = append(b, '{')
		b = file(b)
		b = append(b, `"eta":"`...)
		b = append(b, g.eta...)
		b = append(b, `","job":"`...)
		b = append(b, j.id...)
		b = append(b, `","progress":`...)
		b = strconv.AppendFloat(b, g.progress, 'f', -1, 64)
		b = append(b, ',')
	}
	b = append(b, `"sent_at":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"type":"`...)
	b = append(b, g.typ...)
	return append(b, `"}`...)
}

// digits is the number of decimal digits of n >= 0.
func digits(n int) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}
