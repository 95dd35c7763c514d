package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/natsconn"
)

// NameCluster is the Cluster actor's name under the daemon root.
const NameCluster = "cluster"

// clusterScanMax is the longest time between two scans for free leases, so a stream whose
// owner died is taken within lease_ttl plus this (ttl/3 when that is shorter).
const clusterScanMax = time.Second

// Lease and member keys in the <bucket>_leases bucket.
const (
	leaseKeyPrefix  = "stream."
	memberKeyPrefix = "member."
)

// JetStreamWindow is a JetStream stream a nats sink publishes to, for the duplicate-window
// check at start.
type JetStreamWindow struct {
	Name       string
	Configured time.Duration // the sink's duplicate_window when it creates the stream; 0 otherwise
}

// ClusterConfig is what the Cluster actor needs.
type ClusterConfig struct {
	Cluster config.ClusterConfig // Instance "" = DefaultInstance()
	Streams []string             // configured streams, sorted
	Root    *actor.PID           // gets RunStream and StopStream; answers StreamStopped
	Cursors *KVCursors           // bound to <bucket>_cursors once connected; read before a stream runs
	// Replay is the longest replay a failover causes (lease_ttl + checkpoint interval +
	// reconnect margin): a JetStream duplicate window shorter than it is warned about.
	Replay     time.Duration
	JetStreams []JetStreamWindow
}

// DefaultInstance is <hostname>-<pid>, made of the characters an instance name allows.
func DefaultInstance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "holdfast"
	}
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b) + "-" + strconv.Itoa(os.Getpid())
}

// Cluster runs this instance's part of cluster mode: it owns the NATS connection, announces
// the instance in the leases bucket, takes, renews and hands over stream leases, and tells
// the root which streams to run.
//
// Leases: a key stream.<name> in a bucket whose TTL is lease_ttl. Taken with Create (only if
// absent), renewed every ttl/3 by Update on its revision (compare-and-set), released by a
// Delete on its revision. Time since the last successful renewal is measured on env.Clock
// from when that renewal was sent; at ttl×2/3 without one the stream is stopped here
// (self-fencing), before the server can expire the key and let another instance take it.
// A renewal the server refuses (the revision moved on) stops the stream at once.
//
// Balancing: the live instances are the member.<instance> keys, rewritten every ttl/3. An
// instance holds at most ceil(streams/live) + slack leases; above that it hands its newest
// over (stop the stream, which flushes the sinks and saves the cursor, then delete the
// key), below its fair share it tries to take free streams, scanning at least every second.
//
// No handover loses events: a stream that routed events is handed over only once a
// checkpoint exists in the cursors bucket, and when its stop left routed events that the
// checkpoint does not cover (a sink could not confirm them in the drain), the lease is kept,
// the stream runs again here from its checkpoint, and the handover is tried again after
// lease_ttl (doubling with each deferral, up to 16 × lease_ttl). A stream taken over runs
// only once its checkpoint was read from the cursors bucket's stream leader; a failed read
// is retried every scan while the lease is held.
//
// A graceful stop hands the leases over at once instead of letting them expire: once the
// root has stopped every stream it runs, it asks (ReleaseLeases); from then on nothing is
// taken, run or handed over, and each stopped stream's lease is deleted on its revision,
// under the same rule as a handover: only when the stream's final checkpoint covers every
// event it routed (a stream that routed none is released freely). A lease that fails the
// rule, or whose stream has not finished stopping, expires as after a crash and the next
// owner resumes from the last checkpoint. Then the member key goes, then the connection.
//
// Blocking NATS calls run in goroutines the actor owns, one round at a time; their results
// come back as messages carrying the connection generation.
type Cluster struct {
	log        zerolog.Logger
	env        Env
	cfg        ClusterConfig
	instance   string
	ttl        time.Duration
	renewEvery time.Duration // ttl / 3
	fenceAfter time.Duration // ttl × 2/3
	scanEvery  time.Duration // min(ttl/3, clusterScanMax)

	self   *actor.PID
	root   *actor.RootContext
	ctx    context.Context // cancelled at teardown: every goroutine gives up
	cancel context.CancelFunc
	wg     sync.WaitGroup

	gen      uint64 // connection generation; results of an older one are dropped
	nc       *nats.Conn
	kv       jetstream.KeyValue // the leases bucket; nil until connected
	attempts int                // failed connects in a row
	busy     bool               // a round or an acquisition is under way
	again    bool               // a scan fell due while busy: run it once idle
	tick     Timer
	retry    Timer

	held     map[string]*lease
	stopping map[string]bool // lost here and still stopping: not to be taken again yet
	memberAt time.Time       // when the last member write that succeeded was sent
	state    messages.ClusterState
	owners   map[string]messages.StreamOwner // from the last scan

	closing    bool         // a graceful stop: no scan, take, run or handover any more
	release    *stopRelease // the release the root asked for at a graceful stop; nil before
	memberGone bool         // the member key's withdrawal was tried at the graceful stop
}

// stopRelease is the root's ReleaseLeases while it is under way.
type stopRelease struct {
	running map[string]bool // streams whose stop did not finish
	replyTo *actor.PID
	ctx     context.Context // bounds every NATS call of the release; a child of Cluster.ctx
	cancel  context.CancelFunc
	started bool
	kept    []string // leases left to expire
}

// lease is one stream lease this instance holds.
type lease struct {
	rev       uint64 // current revision (compare-and-set on it)
	epoch     uint64 // revision when taken
	since     time.Time
	renewedAt time.Time // when the last successful write was sent
	releasing bool      // handing over: stop asked
	stopped   bool      // handing over: stopped, the key is being deleted
	renewing  bool      // a renewal is under way: the key's revision is about to change
	deleteDue bool      // stopped for a handover during a renewal: deleted once it is back
	loading   bool      // the checkpoint is being read: the stream is not running yet
	notBefore time.Time // no handover before (set when one was deferred)
	deferrals int       // handovers deferred in a row
	fence     Timer
	reread    Timer // the next try of a failed checkpoint read; nil when none
}

type (
	clusterConnected struct {
		gen      uint64
		nc       *nats.Conn
		leases   jetstream.KeyValue
		cursors  jetstream.KeyValue
		warnings []string
	}
	clusterConnectFailed struct {
		gen uint64
		err error
	}
	clusterLink  struct{ up bool } // the client lost or regained its server
	clusterTick  struct{}
	clusterRetry struct{}
	renewResult  struct {
		stream string
		oldRev uint64
		rev    uint64
		sentAt time.Time
		err    error
	}
	roundDone struct {
		gen          uint64
		renewed      []renewResult
		memberSentAt time.Time
		memberErr    error
		members      []string
		owners       []messages.StreamOwner
		scanErr      error
	}
	acquireResult struct {
		stream string
		rev    uint64
		sentAt time.Time
		err    error
	}
	acquireDone struct {
		gen     uint64
		results []acquireResult
	}
	fenceTick struct {
		stream string
		rev    uint64
	}
	releaseDone struct {
		gen    uint64
		stream string
		rev    uint64
		err    error
	}
	cursorFetched struct {
		stream string
		epoch  uint64
		value  string
		err    error
	}
	cursorRetry struct {
		stream string
		epoch  uint64
	}
	releaseJob struct {
		stream string
		rev    uint64
	}
	stopReleased struct {
		jobs      []releaseJob
		errs      []error // per job
		memberErr error
	}
)

// defaultStopRelease bounds the release of a graceful stop when ReleaseLeases gives no time.
const defaultStopRelease = 2 * time.Second

// leaseValue is what a lease key holds.
type leaseValue struct {
	Instance string    `json:"instance"`
	Since    time.Time `json:"since"`
	Epoch    uint64    `json:"epoch,omitempty"`
}

// ClusterProps builds the Cluster actor; the producer runs again on every restart.
func ClusterProps(env Env, cfg ClusterConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		instance := cfg.Cluster.Instance
		if instance == "" {
			instance = DefaultInstance()
		}
		ttl := cfg.Cluster.LeaseTTL.Duration
		if ttl <= 0 {
			ttl = config.DefaultClusterLeaseTTL
		}
		return &Cluster{log: env.Named(NameCluster).With().Str("instance", instance).Logger(), env: env, cfg: cfg,
			instance: instance, ttl: ttl, renewEvery: ttl / 3, fenceAfter: ttl * 2 / 3, scanEvery: min(ttl/3, clusterScanMax),
			held: map[string]*lease{}, stopping: map[string]bool{}, owners: map[string]messages.StreamOwner{}}
	})
}

func (c *Cluster) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		c.self, c.root = ctx.Self(), ctx.ActorSystem().Root
		c.ctx, c.cancel = context.WithCancel(context.Background())
		c.state = messages.ClusterState{Instance: c.instance, State: messages.ClusterConnecting}
		c.connect()
		c.report()
	case *clusterConnected:
		c.connected(msg)
	case *clusterConnectFailed:
		c.connectFailed(msg)
	case *clusterRetry:
		c.retry = nil
		if !c.closing {
			c.connect()
		}
	case *clusterLink:
		if c.kv != nil {
			c.state.State = messages.ClusterConnected
			if !msg.up {
				c.state.State = messages.ClusterDisconnected
			}
			c.report()
		}
	case *clusterTick:
		c.tick = nil
		if !c.closing {
			c.startRound()
			c.armTick()
		}
	case *roundDone:
		c.roundDone(msg)
	case *acquireDone:
		c.acquired(msg)
	case *fenceTick:
		if l := c.held[msg.stream]; l != nil && l.rev == msg.rev && !l.stopped {
			c.lose(msg.stream, fmt.Sprintf("not renewed within %v", c.fenceAfter))
		}
	case *messages.StreamStopped:
		c.streamStopped(msg.Stream)
	case *releaseDone:
		c.released(msg)
	case *cursorFetched:
		c.cursorFetched(msg)
	case *cursorRetry:
		if l := c.held[msg.stream]; l != nil && l.epoch == msg.epoch && l.loading && !l.releasing && !c.closing {
			l.reread = nil
			c.fetchCursor(msg.stream, l)
		}
	case *messages.ReleaseLeases:
		c.closeDown(ctx, msg)
	case *stopReleased:
		c.stopReleased(msg)
	case *messages.ClusterStreams:
		c.cfg.Streams = slices.Clone(msg.Streams)
		for name := range c.held {
			if !slices.Contains(c.cfg.Streams, name) {
				c.dropHeld(name) // removed by the reload, which stopped it; its key expires
			}
		}
		c.report()
	case *actor.Stopping, *actor.Restarting:
		c.teardown()
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		c.log.Warn().Type("type", msg).Msg("unexpected message")
	}
}

// connect dials NATS and binds (creating when missing) both buckets in a goroutine.
func (c *Cluster) connect() {
	c.gen++
	gen, cc, self, root, log := c.gen, c.cfg, c.self, c.root, c.log
	ctx, ttl := c.ctx, c.ttl
	m := c.env.Metrics
	wg := &c.wg
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if r := recover(); r != nil {
				root.Send(self, &clusterConnectFailed{gen: gen, err: fmt.Errorf("panic: %v", r)})
			}
		}()
		nc, err := natsconn.Connect(natsconn.Options{Conn: cc.Cluster.NATSConnConfig, TokenEnv: cc.Cluster.TokenEnv,
			TokenFile: cc.Cluster.TokenFile, TLS: cc.Cluster.TLS, Timeout: max(ttl/3, time.Second), Log: log, NoBuffer: true,
			OnReconnect: func() {
				if m != nil {
					m.ClusterNATSReconnects.Inc()
				}
				root.Send(self, &clusterLink{up: true})
			},
			OnDisconnect: func(error) { root.Send(self, &clusterLink{up: false}) }})
		if err != nil {
			root.Send(self, &clusterConnectFailed{gen: gen, err: err})
			return
		}
		res, err := bindBuckets(ctx, nc, cc, ttl)
		if err != nil {
			nc.Close()
			root.Send(self, &clusterConnectFailed{gen: gen, err: err})
			return
		}
		res.gen, res.nc = gen, nc
		root.Send(self, res)
	}()
}

// bindBuckets creates or updates the leases bucket (TTL = lease_ttl, history 1) and the
// cursors bucket (no TTL), and checks the duplicate windows of the JetStreams the sinks use.
func bindBuckets(ctx context.Context, nc *nats.Conn, cc ClusterConfig, ttl time.Duration) (*clusterConnected, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b, replicas := cc.Cluster.Bucket, max(cc.Cluster.Replicas, 1)
	leases, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b + "_leases",
		Description: "holdfast stream leases", History: 1, TTL: ttl, Replicas: replicas, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("leases bucket %s_leases: %w", b, err)
	}
	cursors, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b + "_cursors",
		Description: "holdfast stream cursors", History: 1, Replicas: replicas, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("cursors bucket %s_cursors: %w", b, err)
	}
	res := &clusterConnected{leases: leases, cursors: cursors}
	for _, w := range cc.JetStreams {
		have := w.Configured
		if st, err := js.Stream(ctx, w.Name); err == nil {
			have = st.CachedInfo().Config.Duplicates
		} else if have == 0 {
			res.warnings = append(res.warnings, fmt.Sprintf("jetstream %s: %v; its duplicate window cannot be checked", w.Name, err))
			continue
		}
		if have < cc.Replay {
			res.warnings = append(res.warnings, fmt.Sprintf("jetstream %s: duplicate window %v is shorter than the longest failover replay %v (lease_ttl + checkpoint interval + 30s): a replay may be stored twice",
				w.Name, have, cc.Replay))
		}
	}
	return res, nil
}

func (c *Cluster) connected(msg *clusterConnected) {
	if msg.gen != c.gen || c.ctx.Err() != nil || c.closing {
		msg.nc.Close()
		return
	}
	c.nc, c.kv, c.attempts = msg.nc, msg.leases, 0
	c.cfg.Cursors.Bind(msg.nc, c.cfg.Cluster.Bucket+"_cursors", msg.cursors)
	for _, w := range msg.warnings {
		c.log.Warn().Str("check", "duplicate_window").Msg(w)
	}
	c.state.State, c.state.LastError, c.state.Warnings = messages.ClusterConnected, "", msg.warnings
	c.log.Info().Str("servers", natsconn.Hosts(c.cfg.Cluster.URLs)).Dur("lease_ttl", c.ttl).Msg("cluster connected")
	c.report()
	c.startRound()
	c.armTick()
}

func (c *Cluster) connectFailed(msg *clusterConnectFailed) {
	if msg.gen != c.gen || c.ctx.Err() != nil {
		return
	}
	c.attempts++
	delay := min(time.Second<<min(c.attempts-1, 4), 10*time.Second)
	c.log.Warn().Err(msg.err).Int("attempt", c.attempts).Dur("retry_in", delay).Msg("cluster connect")
	c.state.LastError = msg.err.Error()
	c.report()
	self, root := c.self, c.root
	c.retry = c.env.Clock.AfterFunc(delay, func() { root.Send(self, &clusterRetry{}) })
}

func (c *Cluster) armTick() {
	if c.tick != nil {
		c.tick.Stop()
	}
	self, root := c.self, c.root
	c.tick = c.env.Clock.AfterFunc(c.scanEvery, func() { root.Send(self, &clusterTick{}) })
}

type renewJob struct {
	stream string
	rev    uint64
	value  []byte
}

// startRound renews the leases and the member key that are due, then scans members and
// leases, in one goroutine bounded by ttl/3.
func (c *Cluster) startRound() {
	if c.kv == nil {
		return
	}
	if c.busy {
		c.again = true
		return
	}
	c.again = false
	now := c.env.Clock.Now()
	// Renew what would be more than half a scan late at the next scan: renewals then land
	// every ttl/3 give or take half a scan, well before the fence at ttl×2/3.
	due := func(last time.Time) bool { return last.IsZero() || now.Sub(last) >= c.renewEvery-c.scanEvery/2 }
	var renews []renewJob
	for name, l := range c.held {
		if !l.stopped && due(l.renewedAt) {
			v, _ := json.Marshal(leaseValue{Instance: c.instance, Since: l.since, Epoch: l.epoch})
			renews = append(renews, renewJob{name, l.rev, v})
			l.renewing = true
		}
	}
	member := due(c.memberAt)
	memberValue, _ := json.Marshal(leaseValue{Instance: c.instance, Since: now})
	c.busy = true
	gen, kv, clock, self, root := c.gen, c.kv, c.env.Clock, c.self, c.root
	streams, instance, timeout := slices.Clone(c.cfg.Streams), c.instance, c.renewEvery
	parent := c.ctx
	wg := &c.wg
	wg.Add(1)
	go func() {
		defer wg.Done()
		res := &roundDone{gen: gen}
		defer func() {
			if r := recover(); r != nil {
				res.scanErr = fmt.Errorf("panic: %v", r)
			}
			root.Send(self, res)
		}()
		// Renewals first and side by side: one round trip however many leases are held.
		ctx, cancel := context.WithTimeout(parent, timeout)
		defer cancel()
		res.renewed = make([]renewResult, len(renews))
		var rw sync.WaitGroup
		for i, r := range renews {
			rw.Add(1)
			go func() {
				defer rw.Done()
				sent := clock.Now()
				rev, err := kv.Update(ctx, leaseKeyPrefix+r.stream, r.value, r.rev)
				res.renewed[i] = renewResult{stream: r.stream, oldRev: r.rev, rev: rev, sentAt: sent, err: err}
			}()
		}
		rw.Wait()
		if member {
			res.memberSentAt = clock.Now()
			_, res.memberErr = kv.Put(ctx, memberKeyPrefix+instance, memberValue)
		}
		sctx, scancel := context.WithTimeout(parent, timeout) // the scan has its own time
		defer scancel()
		res.members, res.owners, res.scanErr = scanLeases(sctx, kv, streams)
	}()
}

// scanLeases reads the member keys and every stream's lease.
func scanLeases(ctx context.Context, kv jetstream.KeyValue, streams []string) ([]string, []messages.StreamOwner, error) {
	lister, err := kv.ListKeysFiltered(ctx, memberKeyPrefix+"*")
	if err != nil {
		return nil, nil, fmt.Errorf("list members: %w", err)
	}
	var members []string
	for k := range lister.Keys() {
		members = append(members, strings.TrimPrefix(k, memberKeyPrefix))
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("list members: %w", err)
	}
	slices.Sort(members)
	owners := make([]messages.StreamOwner, len(streams))
	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, s := range streams { // side by side: one round trip however many streams
		wg.Add(1)
		go func() {
			defer wg.Done()
			owners[i] = messages.StreamOwner{Stream: s}
			e, err := kv.Get(ctx, leaseKeyPrefix+s)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return
			}
			if err != nil {
				errs[i] = fmt.Errorf("read lease %s: %w", s, err)
				return
			}
			var v leaseValue
			_ = json.Unmarshal(e.Value(), &v) // a foreign value still counts as held
			if v.Instance == "" {
				v.Instance = "?"
			}
			epoch := v.Epoch
			if epoch == 0 {
				epoch = e.Revision()
			}
			owners[i] = messages.StreamOwner{Stream: s, Owner: v.Instance, Epoch: epoch}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return members, owners, nil
}

func (c *Cluster) roundDone(msg *roundDone) {
	if msg.gen != c.gen {
		return
	}
	c.busy = false
	defer c.idle()
	var deletes []string // stopped during their renewal: deleted on the revision it left
	for _, r := range msg.renewed {
		l := c.held[r.stream]
		if l != nil {
			l.renewing = false
			if l.deleteDue {
				deletes = append(deletes, r.stream)
			}
		}
		if l == nil || l.rev != r.oldRev {
			continue // released or lost meanwhile
		}
		switch {
		case r.err == nil:
			l.rev, l.renewedAt = r.rev, r.sentAt
			c.armFence(r.stream, l)
		case errors.Is(r.err, jetstream.ErrKeyRevisionMismatch), errors.Is(r.err, jetstream.ErrKeyNotFound):
			c.lose(r.stream, "renewal refused: "+r.err.Error())
		default:
			c.log.Warn().Err(r.err).Str("stream", r.stream).Dur("fence_in", l.renewedAt.Add(c.fenceAfter).Sub(c.env.Clock.Now())).
				Msg("lease renewal")
		}
	}
	for _, name := range deletes {
		if l := c.held[name]; l != nil {
			c.deleteLease(name, l)
		}
	}
	if msg.memberErr == nil && !msg.memberSentAt.IsZero() {
		c.memberAt = msg.memberSentAt
	}
	if c.closing {
		return // the renewed revisions are what the release compares against; no plan
	}
	if msg.scanErr != nil || msg.memberErr != nil {
		err := msg.scanErr
		if err == nil {
			err = msg.memberErr
		}
		c.state.LastError = err.Error()
		c.log.Warn().Err(err).Msg("cluster scan")
		c.report()
		return
	}
	c.state.LastError = ""
	c.state.Live = msg.members
	c.state.LastScanAt = c.env.Clock.Now()
	clear(c.owners)
	for _, o := range msg.owners {
		c.owners[o.Stream] = o
	}
	c.report()
	c.plan()
}

// idle runs what waited for the job under way: a graceful stop's release, or a scan that
// fell due.
func (c *Cluster) idle() {
	switch {
	case c.busy:
	case c.release != nil:
		if !c.release.started {
			c.startRelease()
		}
	case c.again && !c.closing:
		c.startRound()
	}
}

// plan hands over or takes leases after a scan.
func (c *Cluster) plan() {
	owners := map[string]string{}
	for s, o := range c.owners {
		if o.Owner != "" {
			owners[s] = o.Owner
		}
	}
	held := make([]heldLease, 0, len(c.held))
	now := c.env.Clock.Now()
	for name, l := range c.held {
		pinned := now.Before(l.notBefore) || !c.cfg.Cursors.HandoverSafe(name)
		held = append(held, heldLease{Stream: name, Since: l.since, Releasing: l.releasing, Pinned: pinned})
		owners[name] = c.instance
	}
	p := planLeases(c.instance, c.cfg.Streams, c.state.Live, owners, held, c.stopping, c.cfg.Cluster.Slack)
	for _, s := range p.Release {
		l := c.held[s]
		l.releasing = true
		c.log.Info().Str("stream", s).Int("live", len(c.state.Live)).Msg("handing stream over")
		c.root.Send(c.cfg.Root, &messages.StopStream{Stream: s})
	}
	if len(p.Take) > 0 {
		c.acquire(p.Take)
	}
}

// acquire tries Create on each lease key, in order, in a goroutine.
func (c *Cluster) acquire(streams []string) {
	c.busy = true
	gen, kv, clock, self, root := c.gen, c.kv, c.env.Clock, c.self, c.root
	now := clock.Now()
	value, _ := json.Marshal(leaseValue{Instance: c.instance, Since: now})
	ctx, cancel := context.WithTimeout(c.ctx, c.renewEvery)
	wg := &c.wg
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		res := &acquireDone{gen: gen}
		defer func() {
			_ = recover() // results so far still count; the rest is retried next scan
			root.Send(self, res)
		}()
		for _, s := range streams {
			sent := clock.Now()
			rev, err := kv.Create(ctx, leaseKeyPrefix+s, value)
			res.results = append(res.results, acquireResult{stream: s, rev: rev, sentAt: sent, err: err})
		}
	}()
}

func (c *Cluster) acquired(msg *acquireDone) {
	if msg.gen != c.gen {
		for _, r := range msg.results {
			if r.err == nil {
				c.log.Warn().Str("stream", r.stream).Msg("lease taken on an old connection; left to expire")
			}
		}
		return
	}
	c.busy = false
	defer c.idle()
	now := c.env.Clock.Now()
	for _, r := range msg.results {
		if r.err != nil {
			if !errors.Is(r.err, jetstream.ErrKeyExists) {
				c.log.Warn().Err(r.err).Str("stream", r.stream).Msg("lease take")
			}
			continue
		}
		if now.Sub(r.sentAt) >= c.fenceAfter || !slices.Contains(c.cfg.Streams, r.stream) {
			continue // too late to run it safely, or removed meanwhile: the key expires
		}
		l := &lease{rev: r.rev, epoch: r.rev, since: now, renewedAt: r.sentAt}
		c.held[r.stream] = l
		c.armFence(r.stream, l)
		c.cfg.Cursors.Own(r.stream, true)
		c.owners[r.stream] = messages.StreamOwner{Stream: r.stream, Owner: c.instance, Epoch: r.rev}
		if m := c.env.Metrics; m != nil {
			m.ClusterAcquired.Inc()
		}
		c.log.Info().Str("stream", r.stream).Uint64("epoch", r.rev).Msg("lease acquired")
		if !c.closing { // taken as the stop began: never run, released with the others
			c.fetchCursor(r.stream, l)
		}
	}
	c.report()
}

// fetchCursor reads stream's checkpoint from the cursors bucket's stream leader in a
// goroutine; the stream runs once it is known.
func (c *Cluster) fetchCursor(stream string, l *lease) {
	l.loading = true
	cursors, self, root, epoch := c.cfg.Cursors, c.self, c.root, l.epoch
	ctx, cancel := context.WithTimeout(c.ctx, max(c.renewEvery, time.Second))
	wg := &c.wg
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		res := &cursorFetched{stream: stream, epoch: epoch}
		defer func() {
			if r := recover(); r != nil {
				res.err = fmt.Errorf("panic: %v", r)
			}
			root.Send(self, res)
		}()
		res.value, res.err = cursors.Fetch(ctx, stream)
	}()
}

// cursorFetched runs a taken stream from the checkpoint just read, or tries the read again
// a scan later: a stream never runs without knowing whether it has a checkpoint.
func (c *Cluster) cursorFetched(msg *cursorFetched) {
	l := c.held[msg.stream]
	if l == nil || l.epoch != msg.epoch || !l.loading || l.releasing || c.ctx.Err() != nil || c.closing {
		return // lost, released or handed over meanwhile, or the instance is stopping
	}
	if msg.err != nil {
		c.log.Warn().Err(msg.err).Str("stream", msg.stream).Dur("retry_in", c.scanEvery).Msg("cursor read; stream not started")
		self, root, stream, epoch := c.self, c.root, msg.stream, l.epoch
		l.reread = c.env.Clock.AfterFunc(c.scanEvery, func() { root.Send(self, &cursorRetry{stream: stream, epoch: epoch}) })
		return
	}
	l.loading = false
	c.cfg.Cursors.Resume(msg.stream, msg.value)
	c.log.Info().Str("stream", msg.stream).Str("cursor", msg.value).Msg("running stream")
	c.root.Send(c.cfg.Root, &messages.RunStream{Stream: msg.stream, Epoch: l.epoch})
}

// armFence schedules the self-fence of stream at renewedAt + ttl×2/3.
func (c *Cluster) armFence(stream string, l *lease) {
	if l.fence != nil {
		l.fence.Stop()
	}
	d := max(l.renewedAt.Add(c.fenceAfter).Sub(c.env.Clock.Now()), 0)
	self, root, rev := c.self, c.root, l.rev
	l.fence = c.env.Clock.AfterFunc(d, func() { root.Send(self, &fenceTick{stream: stream, rev: rev}) })
}

// lose stops a stream whose lease this instance can no longer prove it holds.
func (c *Cluster) lose(stream, reason string) {
	l := c.held[stream]
	c.dropHeld(stream)
	c.cfg.Cursors.Own(stream, false)
	if m := c.env.Metrics; m != nil {
		m.ClusterLost.Inc()
	}
	c.log.Warn().Str("stream", stream).Str("reason", reason).Msg("lease lost; stopping stream")
	if !l.stopped {
		c.stopping[stream] = true
		c.root.Send(c.cfg.Root, &messages.StopStream{Stream: stream})
	}
	c.report()
}

func (c *Cluster) dropHeld(stream string) {
	if l := c.held[stream]; l != nil {
		for _, t := range []Timer{l.fence, l.reread} {
			if t != nil {
				t.Stop()
			}
		}
	}
	delete(c.held, stream)
	if o, ok := c.owners[stream]; ok && o.Owner == c.instance {
		delete(c.owners, stream)
	}
}

// streamStopped: a handed-over stream has flushed and saved its cursor, so its key can go;
// unless the drain left routed events that its checkpoint does not cover, in which case
// the lease is kept and the stream runs here again (deferHandover).
func (c *Cluster) streamStopped(stream string) {
	delete(c.stopping, stream)
	l := c.held[stream]
	if l == nil || !l.releasing || l.stopped || c.closing {
		return // at a graceful stop the release decides (closeDown)
	}
	if !c.cfg.Cursors.Covered(stream) {
		c.deferHandover(stream, l)
		return
	}
	l.stopped = true
	c.cfg.Cursors.Own(stream, false)
	if c.kv == nil {
		c.dropHeld(stream)
		return
	}
	if l.renewing { // its revision is about to change: a delete on the old one would fail
		l.deleteDue = true
		return
	}
	c.deleteLease(stream, l)
}

// deleteLease deletes a handed-over stream's lease key on the revision this instance holds.
func (c *Cluster) deleteLease(stream string, l *lease) {
	l.deleteDue = false
	gen, kv, self, root, rev := c.gen, c.kv, c.self, c.root, l.rev
	ctx, cancel := context.WithTimeout(c.ctx, c.renewEvery)
	wg := &c.wg
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		err := kv.Delete(ctx, leaseKeyPrefix+stream, jetstream.LastRevision(rev))
		root.Send(self, &releaseDone{gen: gen, stream: stream, rev: rev, err: err})
	}()
}

// deferHandover keeps a lease whose stream stopped with routed events that no saved
// checkpoint covers: releasing it would leave the next owner nothing to replay them from.
// The stream runs here again from its checkpoint (replaying those events), and the handover
// is tried again after lease_ttl, doubling with each deferral up to 16 × lease_ttl.
func (c *Cluster) deferHandover(stream string, l *lease) {
	l.releasing = false
	l.deferrals++
	hold := c.ttl << min(l.deferrals-1, 4)
	l.notBefore = c.env.Clock.Now().Add(hold)
	if m := c.env.Metrics; m != nil {
		m.ClusterHandoversDeferred.Inc()
	}
	c.log.Warn().Str("stream", stream).Int("deferrals", l.deferrals).Dur("retry_in", hold).
		Msg("handover deferred: routed events not covered by a checkpoint; running the stream again")
	c.cfg.Cursors.Rerun(stream)
	c.root.Send(c.cfg.Root, &messages.RunStream{Stream: stream, Epoch: l.epoch})
	c.report()
}

func (c *Cluster) released(msg *releaseDone) {
	l := c.held[msg.stream]
	if l == nil || l.rev != msg.rev {
		return
	}
	c.dropHeld(msg.stream)
	if msg.err != nil {
		c.log.Warn().Err(msg.err).Str("stream", msg.stream).Msg("lease release; it expires instead")
	} else {
		c.log.Info().Str("stream", msg.stream).Msg("lease handed over")
	}
	if m := c.env.Metrics; m != nil {
		m.ClusterHandovers.Inc()
	}
	c.report()
}

// report sends the cluster's state to the status owner and updates the gauges.
func (c *Cluster) report() {
	st := c.state
	st.Live = slices.Clone(c.state.Live)
	st.Warnings = slices.Clone(c.state.Warnings)
	st.Owners = make([]messages.StreamOwner, 0, len(c.cfg.Streams))
	for _, s := range c.cfg.Streams {
		o := c.owners[s]
		o.Stream = s
		if l := c.held[s]; l != nil {
			o.Owner, o.Epoch = c.instance, l.epoch
		}
		st.Owners = append(st.Owners, o)
	}
	if m := c.env.Metrics; m != nil {
		m.ClusterOwned.Set(float64(len(c.held)))
		m.ClusterLive.Set(float64(len(st.Live)))
	}
	if c.env.Status != nil {
		c.root.Send(c.env.Status, &st)
	}
}

// closeDown begins a graceful stop's release (see Cluster): from now on nothing is taken, run
// or handed over. The leases go once a round or take under way has finished, so that each
// delete compares against the revision a renewal in that round may have written.
func (c *Cluster) closeDown(ctx actor.Context, msg *messages.ReleaseLeases) {
	if c.release != nil {
		ctx.Respond(&messages.LeasesReleased{}) // asked twice: the first release answers for them
		return
	}
	c.closing = true
	for _, t := range []*Timer{&c.tick, &c.retry} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
	for _, l := range c.held {
		if l.reread != nil {
			l.reread.Stop()
			l.reread = nil
		}
	}
	timeout := msg.Timeout
	if timeout <= 0 {
		timeout = defaultStopRelease
	}
	rctx, cancel := context.WithTimeout(c.ctx, timeout)
	c.release = &stopRelease{running: map[string]bool{}, replyTo: ctx.Sender(), ctx: rctx, cancel: cancel}
	for _, s := range msg.Running {
		c.release.running[s] = true
	}
	c.log.Info().Int("held", len(c.held)).Strs("still_running", msg.Running).Dur("timeout", timeout).Msg("releasing leases at stop")
	c.idle()
}

// startRelease deletes, on their revisions and side by side, the leases of the stopped
// streams whose final checkpoint covers what they routed, then withdraws the member key, in
// one goroutine bounded by the release's context. The other leases are left to expire.
func (c *Cluster) startRelease() {
	r := c.release
	r.started = true
	if c.kv == nil { // never connected: no lease, no member key
		c.finishRelease(&messages.LeasesReleased{})
		return
	}
	var jobs []releaseJob
	for _, name := range slices.Sorted(maps.Keys(c.held)) {
		l := c.held[name]
		why := ""
		switch {
		case l.stopped:
			continue // a handover's delete is under way; it ends on its own
		case r.running[name]:
			why = "the stream had not finished stopping"
		case !c.cfg.Cursors.Covered(name) || !c.cfg.Cursors.HandoverSafe(name):
			why = "routed events not covered by the final checkpoint; the next owner resumes from the last checkpoint"
		}
		if why != "" {
			r.kept = append(r.kept, name)
			c.log.Info().Str("stream", name).Str("reason", why).Dur("expires_within", c.ttl).Msg("lease left to expire")
			continue
		}
		l.stopped = true // no renewal, no fence
		c.cfg.Cursors.Own(name, false)
		jobs = append(jobs, releaseJob{stream: name, rev: l.rev})
	}
	c.memberGone = true
	kv, self, root, ctx, instance := c.kv, c.self, c.root, r.ctx, c.instance
	wg := &c.wg
	wg.Add(1)
	go func() {
		defer wg.Done()
		res := &stopReleased{jobs: jobs, errs: make([]error, len(jobs))}
		defer func() {
			if p := recover(); p != nil {
				res.memberErr = fmt.Errorf("panic: %v", p)
			}
			root.Send(self, res)
		}()
		var rw sync.WaitGroup
		for i, j := range jobs {
			rw.Add(1)
			go func() {
				defer rw.Done()
				res.errs[i] = kv.Delete(ctx, leaseKeyPrefix+j.stream, jetstream.LastRevision(j.rev))
			}()
		}
		rw.Wait()
		res.memberErr = kv.Delete(ctx, memberKeyPrefix+instance) // after the leases: they are free for the others first
	}()
}

// stopReleased ends a graceful stop's release: a lease whose delete failed expires instead.
func (c *Cluster) stopReleased(msg *stopReleased) {
	out := &messages.LeasesReleased{Kept: c.release.kept}
	for i, j := range msg.jobs {
		if l := c.held[j.stream]; l != nil && l.rev == j.rev {
			c.dropHeld(j.stream)
		}
		if err := msg.errs[i]; err != nil {
			c.log.Warn().Err(err).Str("stream", j.stream).Dur("expires_within", c.ttl).Msg("lease release at stop; it expires instead")
			out.Kept = append(out.Kept, j.stream)
			continue
		}
		c.log.Info().Str("stream", j.stream).Msg("lease released at stop")
		out.Released = append(out.Released, j.stream)
		if m := c.env.Metrics; m != nil {
			m.ClusterStopReleases.Inc()
		}
	}
	if msg.memberErr != nil {
		c.log.Warn().Err(msg.memberErr).Msg("member key withdrawal at stop; it expires instead")
	}
	c.finishRelease(out)
}

func (c *Cluster) finishRelease(out *messages.LeasesReleased) {
	slices.Sort(out.Released)
	slices.Sort(out.Kept)
	c.log.Info().Strs("released", out.Released).Strs("kept", out.Kept).Msg("leases released at stop")
	if c.release.replyTo != nil {
		c.root.Send(c.release.replyTo, out)
	}
	c.release.cancel()
	c.report()
}

// teardown stops the timers and goroutines, withdraws the member key unless a graceful
// stop's release already did (leases not released expire on their own, after the streams
// have stopped) and closes the connection.
func (c *Cluster) teardown() {
	for _, t := range []Timer{c.tick, c.retry} {
		if t != nil {
			t.Stop()
		}
	}
	for _, l := range c.held {
		for _, t := range []Timer{l.fence, l.reread} {
			if t != nil {
				t.Stop()
			}
		}
	}
	if c.kv != nil && !c.memberGone {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.kv.Delete(ctx, memberKeyPrefix+c.instance)
		cancel()
	}
	if c.cancel != nil {
		c.cancel()
	}
	if c.release != nil {
		c.release.cancel()
	}
	c.wg.Wait()
	if c.nc != nil {
		c.nc.Close()
	}
	c.nc, c.kv = nil, nil
}
