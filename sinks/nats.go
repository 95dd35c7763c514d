package sinks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/natsconn"
)

// KindNATS is the JetStream sink's kind.
const KindNATS = "nats"

// errCodeMessageTooLarge is JetStream's "message size exceeds maximum allowed" error code.
const errCodeMessageTooLarge jetstream.ErrorCode = 10054

// HeaderMsgID is the header JetStream de-duplicates on.
const HeaderMsgID = "Nats-Msg-Id"

// Reconnector is implemented by sinks that hold a connection of their own (nats): the hook
// runs on the client's goroutine after every reconnect. Set it before the first Write.
type Reconnector interface {
	OnReconnect(func())
}

// jsSink publishes each event to JetStream with a Nats-Msg-Id that is the same on every
// replay, so the server drops what it already stored (within the stream's duplicate
// window). Write publishes the batch asynchronously and returns only when every message has
// its PubAck, so done (and the cursor checkpoint) never passes an unacknowledged event. A
// batch is at most max_pending events and the sink actor runs one worker, so at most
// max_pending publishes are unacknowledged; a full window blocks the worker, and that is the
// backpressure. A failed or timed-out batch is retried whole: the copies the server already
// holds are dropped as duplicates.
type jsSink struct {
	cfg     config.SinkConfig
	log     zerolog.Logger
	tmpl    []string // subject tokens; "{stream}" and "{type}" are filled per event
	timeout time.Duration

	mu          sync.Mutex
	onReconnect func()
	nc          *nats.Conn // nil until the first Write connects
	js          jetstream.JetStream
}

func newJetStream(cfg config.SinkConfig, log zerolog.Logger) (*jsSink, error) {
	if err := config.CheckSubjectTemplate(cfg.Subject); err != nil {
		return nil, fmt.Errorf("subject %w", err)
	}
	if len(cfg.URLs) == 0 {
		return nil, errors.New("nats needs urls")
	}
	return &jsSink{cfg: cfg, log: log, tmpl: strings.Split(cfg.Subject, "."),
		timeout: timeoutOr(cfg.Timeout, config.DefaultNATSTimeout)}, nil
}

func (s *jsSink) OnReconnect(f func()) {
	s.mu.Lock()
	s.onReconnect = f
	s.mu.Unlock()
}

// connect dials NATS and checks (or creates) the stream once; a failure is retried by the
// next Write.
func (s *jsSink) connect(ctx context.Context) (jetstream.JetStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.js != nil {
		return s.js, nil
	}
	hook := s.onReconnect
	nc, err := natsconn.Connect(natsconn.Options{Conn: s.cfg.NATSConnConfig, TokenEnv: s.cfg.TokenEnv,
		TokenFile: s.cfg.TokenFile, TLS: s.cfg.TLS, Timeout: s.timeout, Log: s.log, OnReconnect: hook})
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(max(s.cfg.MaxPending, 1)),
		jetstream.WithPublishAsyncTimeout(s.timeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.ensureStream(ctx, js); err != nil {
		nc.Close()
		return nil, err
	}
	s.nc, s.js = nc, js
	return js, nil
}

func (s *jsSink) ensureStream(ctx context.Context, js jetstream.JetStream) error {
	if !s.cfg.CreateStream {
		st, err := js.Stream(ctx, s.cfg.JetStream)
		if err != nil {
			return fmt.Errorf("stream %s: %w", s.cfg.JetStream, err)
		}
		if w := st.CachedInfo().Config.Duplicates; w < s.cfg.DuplicateWindow.Duration {
			s.log.Warn().Str("jetstream", s.cfg.JetStream).Dur("duplicate_window", w).
				Dur("want", s.cfg.DuplicateWindow.Duration).Msg("stream's duplicate window is shorter than configured")
		}
		return nil
	}
	sc := StreamConfigFor(s.cfg)
	if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("create or update stream %s: %w", sc.Name, err)
	}
	return nil
}

// StreamConfigFor is the JetStream stream a nats sink with create_stream creates or updates.
func StreamConfigFor(cfg config.SinkConfig) jetstream.StreamConfig {
	subjects := cfg.StreamSubjects
	if len(subjects) == 0 {
		subjects = []string{DefaultStreamSubject(cfg.Subject)}
	}
	sc := jetstream.StreamConfig{Name: cfg.JetStream, Subjects: subjects, Replicas: max(cfg.Replicas, 1),
		Duplicates: cfg.DuplicateWindow.Duration, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy}
	if cfg.Storage == "memory" {
		sc.Storage = jetstream.MemoryStorage
	}
	switch cfg.Retention {
	case "interest":
		sc.Retention = jetstream.InterestPolicy
	case "workqueue":
		sc.Retention = jetstream.WorkQueuePolicy
	}
	return sc
}

// DefaultStreamSubject is the subject filter that covers tmpl: its literal tokens up to the
// first placeholder, then ">" (the template itself when it has no placeholder).
func DefaultStreamSubject(tmpl string) string {
	toks := strings.Split(tmpl, ".")
	for i, t := range toks {
		if strings.HasPrefix(t, "{") {
			return strings.Join(append(toks[:i:i], ">"), ".")
		}
	}
	return tmpl
}

// Subject fills tmpl's placeholders with stream and type made subject-safe.
func Subject(tmpl []string, stream, typ string) string {
	var b strings.Builder
	for i, t := range tmpl {
		if i > 0 {
			b.WriteByte('.')
		}
		switch t {
		case "{stream}":
			writeToken(&b, stream)
		case "{type}":
			writeToken(&b, typ)
		default:
			b.WriteString(t)
		}
	}
	return b.String()
}

// writeToken writes v as one subject token: letters, digits, '-' and '_' stay, every other
// byte becomes '_', and an empty value becomes "_".
func writeToken(b *strings.Builder, v string) {
	if v == "" {
		b.WriteByte('_')
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
}

// MsgID is the de-duplication ID of e: "<stream>/<cursor>", or "<stream>/h:<hash>" of the
// type and message (not the receive time or transport) when the event has no cursor.
func MsgID(e messages.Event) string {
	if e.Cursor != "" {
		return e.Stream + "/" + e.Cursor
	}
	h := sha256.New()
	h.Write([]byte(e.Type))
	h.Write([]byte{0})
	line := e.Line
	if i := bytes.Index(line, []byte(`","message":`)); i >= 0 {
		line = line[i:]
	}
	h.Write(line)
	return e.Stream + "/h:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Write publishes events and waits for every PubAck (see jsSink).
func (s *jsSink) Write(ctx context.Context, events []messages.Event) error {
	js, err := s.connect(ctx)
	if err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(events))
	for _, e := range events {
		msg := &nats.Msg{Subject: Subject(s.tmpl, e.Stream, e.Type), Data: e.Line,
			Header: nats.Header{HeaderMsgID: []string{MsgID(e)}}}
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			return s.classify(fmt.Errorf("publish %s: %w", msg.Subject, err))
		}
		futures = append(futures, f)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return s.classify(fmt.Errorf("publish %s: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			return fmt.Errorf("publish to %s: no ack within %v", s.cfg.JetStream, s.timeout)
		}
	}
	return nil
}

// classify marks errors that no retry can fix as permanent: a message over the server's
// size limit.
func (s *jsSink) classify(err error) error {
	if errors.Is(err, nats.ErrMaxPayload) {
		return &Error{Permanent: true, Err: err}
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeMessageTooLarge {
		return &Error{Permanent: true, Err: err}
	}
	return err
}

func (s *jsSink) Flush() error  { return nil }
func (s *jsSink) Reopen() error { return nil }

// Close closes the connection; Write has already waited for every ack it reported.
func (s *jsSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		s.nc.Close()
		s.nc, s.js = nil, nil
	}
	return nil
}
