package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"holdfast/messages"
)

// levelWriter filters by a level that reload can change without touching any logger.
type levelWriter struct {
	w     io.Writer
	level atomic.Int32
}

func (l *levelWriter) Write(p []byte) (int, error) { return l.w.Write(p) }

func (l *levelWriter) WriteLevel(level zerolog.Level, p []byte) (int, error) {
	if level < zerolog.Level(l.level.Load()) {
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *levelWriter) set(level string) {
	lv, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lv = zerolog.InfoLevel
	}
	l.level.Store(int32(lv))
}

// newLogger builds the only root logger: JSON lines on stderr (journald keeps them) unless
// stderr is a terminal or console is asked for.
func newLogger(stderr io.Writer, format, level string) (zerolog.Logger, *levelWriter) {
	var w io.Writer = stderr
	console := format == "console"
	if format == "auto" || format == "" {
		if f, ok := stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05.000",
			// Values may hold text an upstream controls (close reasons): no escape sequences
			// reach the terminal. JSON lines escape control characters already.
			FormatFieldValue:    func(v any) string { return messages.Printable(fmt.Sprint(v)) },
			FormatErrFieldValue: func(v any) string { return messages.Printable(fmt.Sprint(v)) }}
	}
	lw := &levelWriter{w: w}
	lw.set(level)
	return zerolog.New(lw).Level(zerolog.TraceLevel).With().Timestamp().Logger(), lw
}

// slogBridge routes protoactor's slog output into zerolog at Warn and above.
func slogBridge(log zerolog.Logger) *slog.Logger {
	return slog.New(zerolog.NewSlogHandler(log.With().Str("actor", "protoactor").Logger().Level(zerolog.WarnLevel)))
}

// logTimeFormat is RFC 3339 with milliseconds, always three digits, so lines sort as text.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// setLogFormats makes every logger write times with milliseconds and durations with their
// unit ("162.2ms", "30s"), not as a bare number of milliseconds. zerolog keeps these in
// package variables; main sets them once, before any logger writes.
func setLogFormats() {
	zerolog.TimeFieldFormat = logTimeFormat
	zerolog.DurationFieldFormat = zerolog.DurationFormatString
}
