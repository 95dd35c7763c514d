package actors

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/messages"
)

// CursorConfig says where a stream's cursor is kept and how often it is saved.
type CursorConfig struct {
	Stream   string
	Path     string        // state file; written atomically (temp file, fsync, rename)
	Interval time.Duration // checkpoint period. Default: 1s.
	Initial  string        // the value loaded from Path (or Store) at stream start
	Conn     *actor.PID    // where acknowledgements go; nil when the stream sends none
	Store    CursorStore   // nil: the file at Path; cluster mode: the KV bucket
}

// CursorStore keeps checkpoints somewhere other than state_dir. Safe for concurrent use.
type CursorStore interface {
	Load(stream string) (string, error) // "" when none was saved
	Save(stream, value string) error
	// Routed is told once per cursor actor, when the stream routed its first event that
	// carries a cursor (after the first event's predecessor was saved, when it has one).
	Routed(stream string)
	// Stopped is told when the cursor actor stops: covered says whether the checkpoint it
	// saved last covers every event the stream routed (so nothing needs a replay).
	Stopped(stream string, covered bool)
}

// CursorPath is where a stream's cursor lives under state_dir.
func CursorPath(stateDir, stream string) string {
	return filepath.Join(stateDir, stream+".cursor")
}

// LoadCursor reads a saved cursor; a missing file is an empty cursor, not an error.
func LoadCursor(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load cursor: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Cursor remembers the last cursor seen (for re-subscribing) and checkpoints the last one that
// every sink has finished with, so a crash replays at most one interval of events and never
// skips one. Its mailbox is unbounded: sinks report here, so it must never block them.
type Cursor struct {
	log   zerolog.Logger
	clock Clock
	cfg   CursorConfig

	seen      string            // last cursor routed
	saved     string            // last cursor written to disk
	last      uint64            // offset of the last routed event
	routed    map[string]uint64 // sink → offset of the last event routed to it
	done      map[string]uint64 // sink → every event up to this offset is finished
	pending   []pendingCursor   // routed events that carry a cursor, oldest first
	ready     string            // the newest cursor every sink has finished with; valid when haveReady
	haveReady bool              // ready is newer than what the last checkpoint considered
	acks      []pendingAck      // acknowledgements waiting for their event's sinks, oldest first
	anyRouted bool              // an event with a cursor was routed since start
	anchor    string            // the first routed event's predecessor, while it is not saved yet
	timer     Timer
}

type pendingCursor struct {
	offset uint64
	value  string
}

type pendingAck struct {
	offset uint64
	gen    uint64
	data   []byte
}

type checkpointTick struct{}

// CursorProps builds the props; the producer runs again on every restart.
func CursorProps(env Env, cfg CursorConfig) *actor.Props {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &Cursor{log: env.Named(NameCursor).With().Str("stream", cfg.Stream).Logger(), clock: env.Clock, cfg: cfg,
			seen: cfg.Initial, saved: cfg.Initial, routed: map[string]uint64{}, done: map[string]uint64{}}
	}, actor.WithDispatcher(hotPath))
}

func (c *Cursor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		c.arm(ctx)
	case *messages.Routed:
		var run []string // sinks of the current run of events with the same route
		var runEnd uint64
		first := ""
		for _, ev := range msg.Events {
			c.last = ev.Offset
			if len(ev.Sinks) > 0 { // a run's last offset is what counts: one map write per run
				if len(run) > 0 && (len(ev.Sinks) != len(run) || &ev.Sinks[0] != &run[0]) {
					c.noteRouted(run, runEnd)
				}
				run, runEnd = ev.Sinks, ev.Offset
			}
			if ev.Cursor != "" {
				if !c.anyRouted {
					c.anyRouted, first = true, ev.Cursor
				}
				c.seen = ev.Cursor
				c.pending = append(c.pending, pendingCursor{ev.Offset, ev.Cursor})
			}
			if ev.Ack != nil {
				c.acks = append(c.acks, pendingAck{ev.Offset, ev.Gen, ev.Ack})
			}
		}
		c.noteRouted(run, runEnd)
		routedPool.put(msg.Events) // what is kept was copied
		if first != "" {
			c.firstRouted(first)
		}
		c.release(ctx)
	case *messages.SinkDone:
		c.done[msg.Sink] = max(c.done[msg.Sink], msg.UpTo)
		c.advance()
		c.release(ctx)
	case *messages.GetCursor:
		ctx.Respond(&messages.CursorValue{Value: c.seen})
	case *checkpointTick:
		c.checkpoint()
		c.arm(ctx)
	case *actor.Stopping:
		if c.timer != nil {
			c.timer.Stop()
		}
		c.checkpoint()
		if c.cfg.Store != nil {
			c.cfg.Store.Stopped(c.cfg.Stream, len(c.pending) == 0 && !c.haveReady && c.anchor == "")
		}
	case *actor.Restarting:
		if c.timer != nil {
			c.timer.Stop()
		}
		c.checkpoint()
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		c.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

// safe is the highest offset every sink has finished: events a sink was never given do not
// hold it back.
func (c *Cursor) safe() uint64 {
	s := c.last
	for sink, r := range c.routed {
		if d := c.done[sink]; d < r {
			s = min(s, d)
		}
	}
	return s
}

// release sends the acknowledgements of events that every sink has finished.
func (c *Cursor) release(ctx actor.Context) {
	if len(c.acks) == 0 || c.cfg.Conn == nil {
		return
	}
	safe, n := c.safe(), 0
	for n < len(c.acks) && c.acks[n].offset <= safe {
		ctx.Send(c.cfg.Conn, &messages.SendAck{Gen: c.acks[n].gen, Data: c.acks[n].data})
		n++
	}
	c.acks = c.acks[n:]
}

// noteRouted records that sinks were given every event up to offset.
func (c *Cursor) noteRouted(sinks []string, offset uint64) {
	for _, s := range sinks {
		c.routed[s] = offset
	}
}

// advance moves the cursors every sink has finished with out of pending, keeping the
// newest as the next checkpoint. It runs on every SinkDone, so pending holds about one
// flush_interval of events rather than a whole checkpoint_interval.
func (c *Cursor) advance() {
	safe, n := c.safe(), 0
	for n < len(c.pending) && c.pending[n].offset <= safe {
		n++
	}
	if n == 0 {
		return
	}
	c.ready, c.haveReady = c.pending[n-1].value, true
	// Move the rest to the front rather than reslice: appends then reuse the array instead
	// of growing a new one as the front is dropped.
	rest := copy(c.pending, c.pending[n:])
	clear(c.pending[rest:])
	c.pending = c.pending[:rest]
}

// firstRouted runs when the first event with a cursor was routed. A stream that started
// without a checkpoint subscribed for live events only: if it stopped or crashed before its
// first checkpoint, the next run would again ask for live events, and what was routed and
// not yet delivered would never come back. For a numeric cursor the first event's
// predecessor (n-1) is a valid checkpoint at once: resuming from it replays the first event
// and everything after it. A string cursor has no predecessor; its first checkpoint waits
// for the sinks.
func (c *Cursor) firstRouted(first string) {
	if c.saved == "" {
		if n, err := strconv.ParseInt(first, 10, 64); err == nil && n > math.MinInt64 {
			c.anchor = strconv.FormatInt(n-1, 10)
			c.saveAnchor()
		}
	}
	if c.cfg.Store != nil {
		c.cfg.Store.Routed(c.cfg.Stream)
	}
}

// saveAnchor saves the first event's predecessor while no other checkpoint exists; a failed
// write is tried again at the next tick.
func (c *Cursor) saveAnchor() {
	if c.anchor == "" || c.saved != "" {
		c.anchor = ""
		return
	}
	if err := c.save(c.anchor); err != nil {
		if !errors.Is(err, ErrFenced) {
			c.log.Error().Err(err).Str("cursor", c.anchor).Msg("first cursor checkpoint")
		}
		return
	}
	c.log.Debug().Str("cursor", c.anchor).Msg("first event's predecessor saved")
	c.saved, c.anchor = c.anchor, ""
}

func (c *Cursor) checkpoint() {
	c.advance()
	value := c.ready
	if !c.haveReady || value == c.saved {
		c.saveAnchor()
		return
	}
	if err := c.save(value); err != nil {
		if errors.Is(err, ErrFenced) {
			c.log.Debug().Err(err).Msg("cursor checkpoint") // stopping: the new owner checkpoints
			return
		}
		c.log.Error().Err(err).Msg("cursor checkpoint")
		return
	}
	c.saved, c.haveReady, c.anchor = value, false, "" // a failed write is tried again at the next tick
	c.log.Debug().Str("cursor", value).Msg("cursor saved")
}

func (c *Cursor) save(value string) error {
	if c.cfg.Store != nil {
		return c.cfg.Store.Save(c.cfg.Stream, value)
	}
	return writeFileAtomic(c.cfg.Path, []byte(value+"\n"))
}

func (c *Cursor) arm(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	c.timer = c.clock.AfterFunc(c.cfg.Interval, func() { root.Send(self, &checkpointTick{}) })
}

// writeFileAtomic replaces path with data so that a crash leaves the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}
