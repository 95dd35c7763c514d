// Package sinks holds the writers behind the sink actors: stdout, file, exec (per_event and
// pipe), webhook and nats (JetStream). They are plain Go: a writer delivers, flushes and closes; retries,
// ordering, concurrency and dead letters belong to the sink actor that drives it.
//
// Delivery guarantees, as the sink actor and these writers give them together:
//   - An event is reported done (messages.SinkDone) only after its Write returned nil and,
//     for stdout and file, a later Flush returned nil too. Until then the cursor does not
//     pass it, so after a crash it is delivered again: at-least-once, duplicates possible.
//   - exec pipe: Write returning nil means the lines were accepted by the pipe to the
//     process, not that the process handled them. Lines sitting in the pipe buffer (up to
//     64KiB on Linux) when the process dies are lost, and holdfast cannot know which ones.
//     A Write that fails (the process exited, EPIPE, timeout) kills the process, and the
//     retry starts a new one and writes the whole batch again, so lines the old process
//     had already read from that batch arrive twice.
//   - nats: done means JetStream acknowledged (PubAck) every event of the batch. A replay
//     carries the same Nats-Msg-Id, so the server drops it within its duplicate window.
//   - exec per_event and webhook: done means exit 0 or a 2xx. A timeout or lost response
//     after the receiver acted leads to a retry, so receivers should be idempotent.
package sinks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
)

// Kinds and exec modes as config names them.
const (
	KindStdout  = "stdout"
	KindFile    = "file"
	KindExec    = "exec"
	KindWebhook = "webhook"

	ModePerEvent = "per_event"
	ModePipe     = "pipe"
)

// Sink is one output. Implementations are safe for concurrent use.
type Sink interface {
	// Write delivers events, in order; it may block. An error means the caller should retry
	// (see Error for what can be retried) with the same events.
	Write(ctx context.Context, events []messages.Event) error
	// Flush makes what Write accepted durable or visible (file: write the buffer, fsync if
	// configured). Others return nil.
	Flush() error
	// Reopen reopens a file sink's path (logrotate); the others do nothing.
	Reopen() error
	// Close flushes and releases everything; the sink is not used afterwards.
	Close() error
}

// Error classifies a delivery failure. A plain error (not an *Error) is retryable.
type Error struct {
	Permanent  bool          // retrying cannot help (HTTP 4xx, command not found)
	RetryAfter time.Duration // the receiver's hint (Retry-After), at most MaxHint; 0 when none
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err carries an *Error that says retrying cannot help.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// MaxHint caps a receiver's Retry-After hint, so one bad header cannot park a sink.
const MaxHint = 10 * time.Minute

// RetryAfter returns the receiver's retry hint carried by err, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// New builds the sink cfg.Kind names. stdout writes to the given writer. Nothing is opened or
// started here, so New fails only on configuration errors; I/O errors come from Write and
// Flush, where the caller retries them. log must be the sink's child logger.
func New(cfg config.SinkConfig, stdout io.Writer, log zerolog.Logger) (Sink, error) {
	switch cfg.Kind {
	case KindStdout:
		return newStdout(stdout), nil
	case KindFile:
		if cfg.Path == "" {
			return nil, fmt.Errorf("sink %s: file needs a path", cfg.Name)
		}
		return newFile(cfg.Path, cfg.Fsync, log), nil
	case KindExec:
		if len(cfg.Command) == 0 || cfg.Command[0] == "" {
			return nil, fmt.Errorf("sink %s: exec needs a command", cfg.Name)
		}
		switch cfg.Mode {
		case "", ModePerEvent:
			return newPerEvent(cfg.Command, ChildEnv(cfg.Env, cfg.PassEnv), timeoutOr(cfg.Timeout, config.DefaultExecTimeout)), nil
		case ModePipe:
			return newPipe(cfg.Command, ChildEnv(cfg.Env, cfg.PassEnv), timeoutOr(cfg.Timeout, config.DefaultExecTimeout), log), nil
		}
		return nil, fmt.Errorf("sink %s: exec mode %q: want per_event or pipe", cfg.Name, cfg.Mode)
	case KindWebhook:
		w, err := newWebhook(cfg)
		if err != nil {
			return nil, fmt.Errorf("sink %s: %w", cfg.Name, err)
		}
		return w, nil
	case KindNATS:
		s, err := newJetStream(cfg, log)
		if err != nil {
			return nil, fmt.Errorf("sink %s: %w", cfg.Name, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("sink %s: kind %q: want stdout, file, exec, webhook or nats", cfg.Name, cfg.Kind)
}

func timeoutOr(d config.Duration, def time.Duration) time.Duration {
	if d.Duration > 0 {
		return d.Duration
	}
	return def
}
