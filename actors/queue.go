package actors

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/queue"
)

// SocketWindow is how many queued messages may be handed to the socket and not yet confirmed
// at once; it bounds what a crash can send twice (with up to as many confirmed messages
// whose removal was not yet committed). The poller gets one at a time, so a failed POST
// never lets a later message overtake it.
const (
	SocketWindow = 256
	pollWindow   = 1
	statsPeriod  = 250 * time.Millisecond
)

// Queue owns a stream's outbound queue. It holds messages while the link is down and flushes
// them in order once Connected (or, on polling fallback with send_url, through the Poller).
// A message leaves only when its delivery is confirmed (OutboundConfirmed from the socket's
// reader, OutboundWritten from the poller): at-least-once end to end. Unconfirmed messages
// go back to the head of the queue when the transport changes or fails. Confirmed messages
// are removed in batches (one store transaction for what confirmed meanwhile), so the depth
// falls during a drain. Pushes that arrive together are committed in one store transaction
// (one fsync when durable).
type Queue struct {
	log     zerolog.Logger
	env     Env
	stream  string
	cfg     config.QueueConfig
	path    string // bbolt file; "" when not durable
	peers   Peers
	canPoll bool // the fallback has a send_url
	q       *queue.Queue
	openErr error // a durable queue that could not open refuses every push

	target    *actor.PID // where to flush; nil = hold
	gen       uint64
	window    int
	flight    []uint64 // ids handed to target and not yet confirmed, in order
	lastSent  uint64   // id of the last message handed to target
	confirmed uint64   // highest id confirmed
	acked     uint64   // highest id whose removal was committed
	unacked   int      // confirmed since the last committed removal
	ackQueued bool     // an ackConfirmed is in the mailbox
	drainTo   *actor.PID

	batch      []pendingPush
	stats      messages.QueueStats
	statsTimer Timer
}

type pendingPush struct {
	to   *actor.PID
	msgs [][]byte
}

type (
	commitPushes   struct{}
	ackConfirmed   struct{}
	queueStatsTick struct{}
)

// QueuePath is where a durable queue lives under state_dir.
func QueuePath(stateDir, stream string) string {
	return filepath.Join(stateDir, stream+".queue.db")
}

// QueueProps builds the props; the producer runs again on every restart.
func QueueProps(env Env, sc config.StreamConfig, stateDir string, peers Peers) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		q := &Queue{log: env.Named(NameQueue).With().Str("stream", sc.Name).Logger(), env: env,
			stream: sc.Name, cfg: sc.Queue, peers: peers, canPoll: sc.Fallback != nil && sc.Fallback.SendURL != ""}
		if sc.Queue.Durable {
			q.path = QueuePath(stateDir, sc.Name)
		}
		q.stats.Stream = sc.Name
		return q
	})
}

func (q *Queue) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		q.open()
		q.report(ctx) // a restored durable queue shows its depth before anything else happens
	case *messages.Enqueue:
		if len(q.batch) == 0 {
			ctx.Send(ctx.Self(), &commitPushes{}) // runs after every push already waiting
		}
		q.batch = append(q.batch, pendingPush{to: ctx.Sender(), msgs: msg.Messages})
	case *commitPushes:
		q.commit(ctx)
		q.flush(ctx)
	case *messages.Connected:
		q.retarget(q.peers.Connection, msg.Gen, SocketWindow)
		q.flush(ctx)
	case *messages.Disconnected:
		if msg.Gen == q.gen {
			q.retarget(nil, 0, 0)
			q.checkDrained(ctx)
		}
	case *messages.QueueMode:
		if msg.Via == messages.ViaPoll && q.canPoll {
			if q.gen != 0 {
				return // a ready socket (a probe) keeps the queue: the poller may be stopped any moment
			}
			q.retarget(q.peers.Poller, 0, pollWindow)
			q.flush(ctx)
		} else if msg.Via != messages.ViaWebSocket {
			q.retarget(nil, 0, 0)
			q.checkDrained(ctx)
		}
	case *messages.OutboundConfirmed:
		q.confirm(ctx, msg.UpTo, messages.ViaWebSocket)
	case *messages.OutboundWritten:
		q.confirm(ctx, msg.ID, messages.ViaPoll)
	case *ackConfirmed:
		q.ackQueued = false
		q.ack()
		q.scheduleReport(ctx)
		q.checkDrained(ctx)
	case *messages.OutboundFailed:
		if msg.Gen != q.gen {
			return // from a former target: the current one is unaffected
		}
		q.log.Warn().Uint64("id", msg.ID).Err(msg.Err).Msg("send failed; message stays queued")
		q.retarget(nil, 0, 0) // resend from the front when a transport is ready again
		q.checkDrained(ctx)
	case *messages.DrainQueue:
		q.commit(ctx)
		q.drainTo = ctx.Sender()
		q.checkDrained(ctx)
	case *queueStatsTick:
		q.statsTimer = nil
		q.report(ctx)
	case *actor.Stopping, *actor.Restarting:
		q.commit(ctx)
		q.ack()
		stop(&q.statsTimer)
		if q.q != nil && q.path == "" && q.q.Len() > 0 {
			q.log.Warn().Int("discarded", q.q.Len()).Int64("bytes", q.q.Bytes()).
				Msg("memory queue discarded: its messages were never delivered")
		}
		if q.q != nil {
			if err := q.q.Close(); err != nil {
				q.log.Error().Err(err).Msg("close queue")
			}
		}
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		q.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

func (q *Queue) open() {
	var store queue.Store
	if q.path != "" {
		if err := os.MkdirAll(filepath.Dir(q.path), 0o750); err != nil {
			q.openErr = fmt.Errorf("create state dir: %w", err)
			q.log.Error().Err(q.openErr).Msg("queue unavailable; every send is refused")
			return
		}
		b, err := queue.OpenBolt(q.path)
		if err != nil {
			q.openErr = fmt.Errorf("open durable queue: %w", err)
			q.log.Error().Err(q.openErr).Msg("queue unavailable; every send is refused")
			return
		}
		store = b
	}
	qq, err := queue.New(q.cfg, store)
	if err != nil {
		q.openErr = fmt.Errorf("open queue: %w", err)
		q.log.Error().Err(q.openErr).Msg("queue unavailable; every send is refused")
		if store != nil {
			_ = store.Close()
		}
		return
	}
	q.q = qq
	if n := qq.Len(); n > 0 {
		q.log.Info().Int("depth", n).Msg("queue restored")
	}
}

// commit pushes every waiting request in one store transaction and answers each caller.
func (q *Queue) commit(ctx actor.Context) {
	if len(q.batch) == 0 {
		return
	}
	batch := q.batch
	q.batch = nil
	if q.openErr != nil {
		for _, p := range batch {
			ctx.Send(p.to, &messages.Enqueued{Err: q.openErr})
		}
		return
	}
	reqs := make([][][]byte, len(batch))
	for i, p := range batch {
		reqs[i] = p.msgs
	}
	res, err := q.q.PushAll(reqs, q.env.Clock.Now())
	for i, p := range batch {
		if err != nil {
			ctx.Send(p.to, &messages.Enqueued{Depth: q.q.Len(), Err: err})
			continue
		}
		r := res[i]
		q.count(metrics.DropOverflow, r.Dropped)
		q.count(metrics.DropTTL, r.Expired)
		ctx.Send(p.to, &messages.Enqueued{Depth: r.Depth, Err: r.Err})
	}
	if err != nil {
		q.log.Error().Err(err).Int("requests", len(batch)).Msg("enqueue")
	}
	q.report(ctx)
}

// flush hands the next messages to the target, up to the window.
func (q *Queue) flush(ctx actor.Context) {
	if q.q == nil || q.target == nil || len(q.flight) >= q.window {
		return
	}
	live, expired := q.q.PeekAfter(q.lastSent, q.window-len(q.flight), q.env.Clock.Now())
	q.count(metrics.DropTTL, expired)
	for _, it := range live {
		ctx.Send(q.target, &messages.SendOutbound{Gen: q.gen, ID: it.ID, Data: it.Data})
		q.flight = append(q.flight, it.ID)
		q.lastSent = it.ID
	}
	q.scheduleReport(ctx)
}

// retarget switches where messages go; whatever was not confirmed is sent again from the
// front, in order.
func (q *Queue) retarget(to *actor.PID, gen uint64, window int) {
	q.ack()
	if n := len(q.flight); n > 0 && q.target != nil {
		q.log.Info().Int("unconfirmed", n).Uint64("first_id", q.flight[0]).Msg("unconfirmed messages go back to the head of the queue")
	}
	q.target, q.gen, q.window = to, gen, window
	q.flight, q.lastSent = q.flight[:0], q.confirmed
}

// confirm records that every message up to id was delivered: it frees the window at once and
// removes them from the store in a batch, with whatever else confirms meanwhile (ackConfirmed
// runs after the messages already waiting), and at the latest once a window's worth waits.
func (q *Queue) confirm(ctx actor.Context, id uint64, via string) {
	if id <= q.confirmed {
		return
	}
	q.confirmed, q.lastSent = id, max(q.lastSent, id)
	n := 0
	for n < len(q.flight) && q.flight[n] <= id {
		n++
	}
	q.flight = append(q.flight[:0], q.flight[n:]...)
	q.stats.Sent += uint64(n)
	if n > 0 {
		q.env.Metrics.MessagesOut.WithLabelValues(q.stream, via).Add(float64(n))
	}
	q.unacked += n
	if q.unacked >= SocketWindow {
		q.ack()
	} else if !q.ackQueued {
		q.ackQueued = true
		ctx.Send(ctx.Self(), &ackConfirmed{})
	}
	q.flush(ctx)
}

// ack removes every confirmed message from the store in one transaction.
func (q *Queue) ack() {
	if q.q == nil || q.confirmed == 0 || q.acked >= q.confirmed {
		return
	}
	if _, err := q.q.AckUpTo(q.confirmed); err != nil && !errors.Is(err, queue.ErrUnknownID) {
		q.log.Error().Err(err).Msg("ack queue")
		return // the delete is retried with the next store update
	}
	q.acked, q.unacked = q.confirmed, 0
}

// checkDrained answers a pending DrainQueue once nothing is left to deliver, or nothing can be.
func (q *Queue) checkDrained(ctx actor.Context) {
	if q.drainTo == nil {
		return
	}
	q.ack()
	depth := 0
	if q.q != nil {
		depth = q.q.Len()
	}
	if depth > 0 && q.target != nil {
		return
	}
	ctx.Send(q.drainTo, &messages.QueueDrained{Depth: depth})
	q.drainTo = nil
}

func (q *Queue) count(reason string, items []queue.Item) {
	if len(items) == 0 {
		return
	}
	if reason == metrics.DropTTL {
		q.stats.Expired += uint64(len(items))
	} else {
		q.stats.Dropped += uint64(len(items))
	}
	q.env.Metrics.QueueDropped.WithLabelValues(q.stream, reason).Add(float64(len(items)))
	q.log.Warn().Str("reason", reason).Int("dropped", len(items)).Uint64("first_id", items[0].ID).Msg("queue dropped messages")
}

func (q *Queue) scheduleReport(ctx actor.Context) {
	if q.statsTimer != nil {
		return
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	q.statsTimer = q.env.Clock.AfterFunc(statsPeriod, func() { root.Send(self, &queueStatsTick{}) })
}

func (q *Queue) report(ctx actor.Context) {
	if q.q != nil {
		q.stats.Depth, q.stats.Bytes = q.q.Len(), q.q.Bytes()
	}
	q.stats.Unconfirmed = len(q.flight)
	m := q.env.Metrics
	m.QueueDepth.WithLabelValues(q.stream).Set(float64(q.stats.Depth))
	m.QueueBytes.WithLabelValues(q.stream).Set(float64(q.stats.Bytes))
	if q.env.Status != nil {
		st := q.stats
		ctx.Send(q.env.Status, &st)
	}
}
