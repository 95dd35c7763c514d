// Package metrics holds holdfast's Prometheus series on a registry of its own.
package metrics

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"holdfast/messages"
)

// MaxTypesPerStream caps the distinct event types counted per stream; further types are
// counted as OtherType, so an upstream inventing types cannot grow memory without bound.
const MaxTypesPerStream = 100

// OtherType is the type label for event types beyond MaxTypesPerStream.
const OtherType = "_other"

// MaxTypeLabel is the longest type label in bytes. A longer type is cut to its first
// typeLabelKeep bytes (at a character boundary) plus "~" and 8 hex digits of a hash of the
// whole type, so long types stay apart without a label, or a series, growing with them.
const MaxTypeLabel = 64

const typeLabelKeep = MaxTypeLabel - 9

// TypeLabel is the label value a type is counted under: itself when short and valid UTF-8,
// else a cut with a hash (see MaxTypeLabel). Label values must be UTF-8 or the vector panics.
func TypeLabel(typ string) string {
	if len(typ) <= MaxTypeLabel {
		if !utf8.ValidString(typ) {
			return strings.ToValidUTF8(typ, "\uFFFD")
		}
		return typ
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(typ))
	keep := typeLabelKeep
	for keep > 0 && !utf8.RuneStart(typ[keep]) {
		keep-- // never cut a character in two
	}
	return fmt.Sprintf("%s~%08x", strings.ToValidUTF8(typ[:keep], "?"), h.Sum32())
}

// Disconnect reasons: the only values of the reason label of disconnects_total.
const (
	ReasonClosed   = "closed"   // close frame from the peer
	ReasonError    = "error"    // read/write/network error
	ReasonStale    = "stale"    // heartbeat or data watchdog gave up
	ReasonAuth     = "auth"     // authentication rejected
	ReasonProtocol = "protocol" // the peer broke the protocol
	ReasonShutdown = "shutdown" // we closed it: stop, reload or promotion
	ReasonOther    = "other"    // anything else
)

// Queue drop reasons: the only values of the reason label of queue_dropped_total.
const (
	DropOverflow = "overflow"
	DropTTL      = "ttl"
)

// Metrics is every holdfast series. The vectors are safe for concurrent use and actors
// update them directly; label values must be constants or stream/sink names, except where a
// helper (EventIn, Disconnect, SetState, SetVia) bounds them.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	Connections  *prometheus.CounterVec // stream
	Reconnects   *prometheus.CounterVec // stream
	Disconnects  *prometheus.CounterVec // stream, reason (use Disconnect)
	StreamState  *prometheus.GaugeVec   // stream, state (use SetState)
	Via          *prometheus.GaugeVec   // stream, via (use SetVia)
	EventsIn     *prometheus.CounterVec // stream, type (use EventIn)
	ParseErrors  *prometheus.CounterVec // stream, reason (a small constant set)
	Duplicates   *prometheus.CounterVec // stream
	Gaps         *prometheus.CounterVec // stream
	GapEvents    *prometheus.CounterVec // stream
	CursorResets *prometheus.CounterVec // stream
	QueueDepth   *prometheus.GaugeVec   // stream
	QueueBytes   *prometheus.GaugeVec   // stream
	QueueDropped *prometheus.CounterVec // stream, reason (DropOverflow|DropTTL)
	QueueMax     *prometheus.GaugeVec   // stream: queue.max_messages
	QueueMaxB    *prometheus.GaugeVec   // stream: queue.max_bytes
	MessagesOut  *prometheus.CounterVec // stream, via
	Handshake    *prometheus.HistogramVec
	HeartbeatRTT *prometheus.HistogramVec

	LastEvent *prometheus.GaugeVec // stream: unix time of the newest routed event; 0 before the first

	SinkDelivered    *prometheus.CounterVec // stream, sink
	SinkRetried      *prometheus.CounterVec // stream, sink
	SinkDeadLettered *prometheus.CounterVec // stream, sink
	SinkInFlight     *prometheus.GaugeVec   // stream, sink
	SinkLatency      *prometheus.HistogramVec
	SinkReconnects   *prometheus.CounterVec // stream, sink (nats: the sink's own connection)

	ClusterAcquired          prometheus.Counter // leases taken
	ClusterLost              prometheus.Counter // leases lost: renewal refused or self-fenced
	ClusterHandovers         prometheus.Counter // leases released to rebalance
	ClusterHandoversDeferred prometheus.Counter // handovers put off: the stop left events no checkpoint covers
	ClusterStopReleases      prometheus.Counter // leases released at a graceful stop
	ClusterOwned             prometheus.Gauge   // streams this instance runs
	ClusterLive              prometheus.Gauge   // live instances seen
	ClusterNATSReconnects    prometheus.Counter
	SinkHealthy              *prometheus.GaugeVec // stream, sink: 0 while failing for longer than unhealthy_after

	StreamReady  *prometheus.GaugeVec // stream: 1 while delivering (what /readyz checks)
	BuildInfo    *prometheus.GaugeVec // version, revision, goversion: always 1
	ReloadOK     prometheus.Gauge     // 1 when the last reload (or the start) applied its config
	ReloadOKTime prometheus.Gauge     // unix time of the last successful reload (or the start)

	PollRequests *prometheus.CounterVec // stream, result
	ModeSwitches *prometheus.CounterVec // stream, from, to
	ModeSeconds  *prometheus.CounterVec // stream, mode

	mu        sync.Mutex
	types     map[string]map[string]bool // stream → event types with their own series
	lastState map[string]string          // stream → state last set to 1
}

// New registers every series, plus the Go and process collectors, on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		types:     map[string]map[string]bool{},
		lastState: map[string]string{},
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "holdfast_" + name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "holdfast_" + name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "holdfast_" + name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(v)
		return v
	}
	fast := prometheus.ExponentialBuckets(0.001, 2, 15) // 1ms .. ~16s

	m.Connections = counter("connections_total", "Successful connects (socket ready).", "stream")
	m.Reconnects = counter("reconnects_total", "Reconnect attempts.", "stream")
	m.Disconnects = counter("disconnects_total", "Ready sockets that went away, by reason.", "stream", "reason")
	m.StreamState = gauge("stream_state", "1 for the stream's current state, 0 for the others.", "stream", "state")
	m.Via = gauge("via", "1 for the transport events currently arrive by.", "stream", "via")
	m.EventsIn = counter("events_in_total", "Inbound events by type (capped per stream; the rest are _other).", "stream", "type")
	m.ParseErrors = counter("parse_errors_total", "Inbound frames that could not be routed.", "stream", "reason")
	m.Duplicates = counter("duplicates_total", "Inbound events dropped as duplicates.", "stream")
	m.Gaps = counter("gaps_total", "Jumps seen in a numeric cursor.", "stream")
	m.GapEvents = counter("gap_events_total", "Events missing across cursor jumps.", "stream")
	m.CursorResets = counter("cursor_resets_total", "Times a numeric cursor went back in a way no replay explains.", "stream")
	m.QueueDepth = gauge("queue_depth", "Outbound messages waiting.", "stream")
	m.QueueBytes = gauge("queue_bytes", "Bytes of outbound messages waiting.", "stream")
	m.QueueMax = gauge("queue_max_messages", "The queue's max_messages: queue_depth can reach it.", "stream")
	m.QueueMaxB = gauge("queue_max_bytes", "The queue's max_bytes: queue_bytes can reach it.", "stream")
	m.QueueDropped = counter("queue_dropped_total", "Outbound messages dropped, by reason (overflow|ttl).", "stream", "reason")
	m.MessagesOut = counter("messages_out_total", "Outbound messages written, by transport.", "stream", "via")
	m.Handshake = histogram("handshake_seconds", "Dial to upgrade.", prometheus.DefBuckets, "stream")
	m.HeartbeatRTT = histogram("heartbeat_rtt_seconds", "Ping to pong.", fast, "stream")

	m.LastEvent = gauge("last_event_timestamp_seconds", "Unix time of the newest routed event; 0 before the first.", "stream")

	m.SinkDelivered = counter("sink_delivered_total", "Events a sink finished.", "stream", "sink")
	m.SinkRetried = counter("sink_retried_total", "Sink delivery retries.", "stream", "sink")
	m.SinkDeadLettered = counter("sink_dead_lettered_total", "Events a sink gave up on.", "stream", "sink")
	m.SinkInFlight = gauge("sink_in_flight", "Events a sink is working on.", "stream", "sink")
	m.SinkLatency = histogram("sink_latency_seconds", "Time to deliver one event (or batch).", fast, "stream", "sink")
	m.SinkHealthy = gauge("sink_healthy", "0 while a sink has failed for longer than its unhealthy_after, else 1.", "stream", "sink")

	m.StreamReady = gauge("stream_ready", "1 while the stream delivers (connected or polling successfully, no sink unhealthy).", "stream")
	m.BuildInfo = gauge("build_info", "Always 1; the labels say which build runs.", "version", "revision", "goversion")
	m.ReloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "holdfast_config_last_reload_successful",
		Help: "1 when the last reload (or the start) applied its config, 0 when it was rejected."})
	m.ReloadOKTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "holdfast_config_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful reload (or the start)."})
	m.reg.MustRegister(m.ReloadOK, m.ReloadOKTime)

	m.SinkReconnects = counter("sink_reconnects_total", "Reconnects of a sink's own connection (nats).", "stream", "sink")

	one := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "holdfast_" + name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	oneGauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "holdfast_" + name, Help: help})
		m.reg.MustRegister(g)
		return g
	}
	m.ClusterAcquired = one("cluster_lease_acquisitions_total", "Stream leases this instance took.")
	m.ClusterLost = one("cluster_lease_losses_total", "Stream leases lost: renewal refused or stopped before expiry (self-fenced).")
	m.ClusterHandovers = one("cluster_handovers_total", "Stream leases released to rebalance.")
	m.ClusterHandoversDeferred = one("cluster_handovers_deferred_total", "Handovers put off because the stream stopped with routed events no saved checkpoint covers.")
	m.ClusterStopReleases = one("cluster_stop_releases_total", "Stream leases released at a graceful stop (the others expire after lease_ttl).")
	m.ClusterOwned = oneGauge("cluster_owned_streams", "Streams this instance runs in cluster mode.")
	m.ClusterLive = oneGauge("cluster_live_instances", "Live instances this instance sees.")
	m.ClusterNATSReconnects = one("cluster_nats_reconnects_total", "Reconnects of the cluster's NATS connection.")

	m.PollRequests = counter("poll_requests_total", "Fallback poll requests, by result.", "stream", "result")
	m.ModeSwitches = counter("mode_switches_total", "Transport switches.", "stream", "from", "to")
	m.ModeSeconds = counter("mode_seconds_total", "Seconds spent in each transport mode.", "stream", "mode")

	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// Registry is the registry every series lives on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// EventCounter returns the counter EventIn would increment for typ, for callers that cache
// it per type (the router does: a label lookup per event is the costliest part of counting).
func (m *Metrics) EventCounter(stream, typ string) prometheus.Counter {
	typ = TypeLabel(typ)
	m.mu.Lock()
	seen := m.types[stream]
	if seen == nil {
		seen = map[string]bool{}
		m.types[stream] = seen
	}
	if !seen[typ] {
		if len(seen) < MaxTypesPerStream {
			seen[typ] = true
		} else {
			typ = OtherType
		}
	}
	m.mu.Unlock()
	return m.EventsIn.WithLabelValues(stream, typ)
}

// EventIn counts one inbound event. The first MaxTypesPerStream types of a stream get
// their own series; later ones count under OtherType.
func (m *Metrics) EventIn(stream, typ string) {
	m.EventCounter(stream, typ).Inc()
}

// Disconnect counts one disconnect; a reason outside the Reason constants counts as ReasonOther.
func (m *Metrics) Disconnect(stream, reason string) {
	switch reason {
	case ReasonClosed, ReasonError, ReasonStale, ReasonAuth, ReasonProtocol, ReasonShutdown:
	default:
		reason = ReasonOther
	}
	m.Disconnects.WithLabelValues(stream, reason).Inc()
}

// SetState sets stream_state to 1 for state and 0 for every other state (messages.State*).
func (m *Metrics) SetState(stream, state string) {
	m.mu.Lock()
	prev := m.lastState[stream]
	m.lastState[stream] = state
	m.mu.Unlock()
	if prev != "" && prev != state {
		m.StreamState.WithLabelValues(stream, prev).Set(0) // covers a state outside the list
	}
	for _, s := range []string{messages.StateConnecting, messages.StateConnected, messages.StateBackoff,
		messages.StatePolling, messages.StateAuthFailed, messages.StateFailed, messages.StateStopped} {
		if s != state {
			m.StreamState.WithLabelValues(stream, s).Set(0)
		}
	}
	m.StreamState.WithLabelValues(stream, state).Set(1)
}

// SetVia sets via to 1 for via and 0 for the other transport; "" zeroes both.
func (m *Metrics) SetVia(stream, via string) {
	for _, v := range []string{messages.ViaWebSocket, messages.ViaPoll} {
		val := 0.0
		if v == via {
			val = 1
		}
		m.Via.WithLabelValues(stream, v).Set(val)
	}
}

// DeleteStream drops every series of a stream removed on reload.
func (m *Metrics) DeleteStream(name string) {
	m.mu.Lock()
	delete(m.types, name)
	delete(m.lastState, name)
	m.mu.Unlock()
	l := prometheus.Labels{"stream": name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.Connections, m.Reconnects, m.Disconnects, m.StreamState, m.Via, m.EventsIn,
		m.ParseErrors, m.Duplicates, m.Gaps, m.GapEvents, m.CursorResets, m.QueueDepth, m.QueueBytes,
		m.QueueDropped, m.QueueMax, m.QueueMaxB, m.MessagesOut, m.Handshake, m.HeartbeatRTT, m.PollRequests,
		m.ModeSwitches, m.ModeSeconds, m.LastEvent, m.StreamReady,
		m.SinkDelivered, m.SinkRetried, m.SinkDeadLettered, m.SinkInFlight, m.SinkLatency, m.SinkHealthy, m.SinkReconnects,
	} {
		v.DeletePartialMatch(l)
	}
}

// DeleteSink drops the series of one stream's copy of a sink.
func (m *Metrics) DeleteSink(stream, sink string) {
	l := prometheus.Labels{"stream": stream, "sink": sink}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.SinkDelivered, m.SinkRetried, m.SinkDeadLettered, m.SinkInFlight, m.SinkLatency, m.SinkHealthy, m.SinkReconnects,
	} {
		v.DeletePartialMatch(l)
	}
}

// Poll results: the only values of the result label of poll_requests_total.
const (
	PollOK          = "ok"
	PollNotModified = "not_modified"
	PollAuthFailed  = "auth_failed"
	PollBadBody     = "bad_body"
	PollError       = "error"
)

// ParseReasonPollBody is the parse_errors_total reason of a poll response that is unusable.
const ParseReasonPollBody = "poll_body"

// ParseReason is the label value of a reject reason (messages.Invalid…): lowercase, words
// joined by "_", so label values carry no spaces.
func ParseReason(reason string) string {
	return strings.ToLower(strings.Join(strings.Fields(reason), "_"))
}

// ParseError counts one inbound frame rejected for reason (messages.Invalid…).
func (m *Metrics) ParseError(stream, reason string) {
	m.ParseErrors.WithLabelValues(stream, ParseReason(reason)).Inc()
}

// InitStream creates every series of a stream at zero (with the label values known in
// advance), so that rate() and increase() see the first events; the root calls it when the
// stream starts. Sink series are created by each sink as it starts (InitSink).
func (m *Metrics) InitStream(stream string, fallback bool) {
	for _, c := range []*prometheus.CounterVec{m.Connections, m.Reconnects, m.Duplicates, m.Gaps, m.GapEvents, m.CursorResets} {
		c.WithLabelValues(stream)
	}
	for _, r := range []string{ReasonClosed, ReasonError, ReasonStale, ReasonAuth, ReasonProtocol, ReasonShutdown, ReasonOther} {
		m.Disconnects.WithLabelValues(stream, r)
	}
	for _, r := range []string{messages.InvalidBinary, messages.InvalidJSON, messages.InvalidObject, messages.InvalidType, messages.InvalidTooLong} {
		m.ParseErrors.WithLabelValues(stream, ParseReason(r))
	}
	m.QueueDepth.WithLabelValues(stream)
	m.QueueBytes.WithLabelValues(stream)
	m.QueueDropped.WithLabelValues(stream, DropOverflow)
	m.QueueDropped.WithLabelValues(stream, DropTTL)
	m.MessagesOut.WithLabelValues(stream, messages.ViaWebSocket)
	m.Handshake.WithLabelValues(stream)
	m.HeartbeatRTT.WithLabelValues(stream)
	m.LastEvent.WithLabelValues(stream)
	m.StreamReady.WithLabelValues(stream)
	m.SetVia(stream, "")
	if fallback {
		m.MessagesOut.WithLabelValues(stream, messages.ViaPoll)
		m.ParseErrors.WithLabelValues(stream, ParseReasonPollBody)
		for _, r := range []string{PollOK, PollNotModified, PollAuthFailed, PollBadBody, PollError} {
			m.PollRequests.WithLabelValues(stream, r)
		}
		m.ModeSwitches.WithLabelValues(stream, messages.ViaWebSocket, messages.ViaPoll)
		m.ModeSwitches.WithLabelValues(stream, messages.ViaPoll, messages.ViaWebSocket)
		m.ModeSeconds.WithLabelValues(stream, messages.ViaWebSocket)
		m.ModeSeconds.WithLabelValues(stream, messages.ViaPoll)
	}
}

// SetBuildInfo sets build_info{version,revision,goversion} to 1.
func (m *Metrics) SetBuildInfo(version, revision, goversion string) {
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(version, revision, goversion).Set(1)
}

// Reloaded records a reload's outcome (the start counts as a successful one) at unix time at.
func (m *Metrics) Reloaded(ok bool, at time.Time) {
	if !ok {
		m.ReloadOK.Set(0)
		return
	}
	m.ReloadOK.Set(1)
	m.ReloadOKTime.Set(float64(at.UnixNano()) / 1e9)
}

// Held is one place where work is still held: a sink's events in flight (Sink set) or a
// stream's queued outbound messages (Sink empty).
type Held struct {
	Stream, Sink string
	Count        int
}

// Held lists, from the gauges, the sinks with events in flight and the streams with queued
// outbound messages; a shutdown that times out logs them as abandoned.
func (m *Metrics) Held() []Held {
	fams, err := m.reg.Gather()
	if err != nil {
		return nil
	}
	var out []Held
	for _, f := range fams {
		if f.GetName() != "holdfast_sink_in_flight" && f.GetName() != "holdfast_queue_depth" {
			continue
		}
		for _, mt := range f.GetMetric() {
			n := int(mt.GetGauge().GetValue())
			if n <= 0 {
				continue
			}
			h := Held{Count: n}
			for _, l := range mt.GetLabel() {
				switch l.GetName() {
				case "stream":
					h.Stream = l.GetValue()
				case "sink":
					h.Sink = l.GetValue()
				}
			}
			out = append(out, h)
		}
	}
	return out
}
