package control

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/metrics"
	"holdfast/queue"
)

// ErrUnknownStream is wrapped by Backend.Enqueue for a stream that is not configured (404).
var ErrUnknownStream = errors.New("unknown stream")

// ErrOff means the control API is disabled (control.listen = "").
var ErrOff = errors.New("control api is off")

// Timeouts of the server and of its calls into the backend.
const (
	healthTimeout     = 2 * time.Second // /healthz answers 503 when Ping takes longer
	backendTimeout    = 5 * time.Second // status and enqueue; 503 when exceeded
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	staleDialTimeout  = time.Second // probe of an existing socket file
)

// Backend is what the server asks of the daemon. Every method must return once ctx is done.
type Backend interface {
	// Status returns every stream's status.
	Status(ctx context.Context) (*messages.Status, error)
	// Enqueue queues msgs (each a compact JSON object) on stream, all or none. err may wrap
	// ErrUnknownStream, queue.ErrFull or queue.ErrTooLarge.
	Enqueue(ctx context.Context, stream string, msgs [][]byte) (depth int, err error)
	// Ping returns nil when the actor system answers.
	Ping(ctx context.Context) error
}

// Server is the control API. New builds it, Listen binds, Serve runs on the caller's
// goroutine, and Shutdown stops it. Drain may be called from any goroutine.
type Server struct {
	cfg     config.ControlConfig
	token   config.Secret
	b       Backend
	log     zerolog.Logger
	maxBody int64
	srv     *http.Server

	draining atomic.Bool
	now      func() time.Time // the clock of the 401 log limit

	unauthMu         sync.Mutex
	unauthLogged     time.Time // when the last 401 was logged
	unauthSuppressed int       // 401s not logged since
	ln               net.Listener
	addr             string
	sockPath         string      // "" for TCP
	sockInfo         os.FileInfo // the socket file we created, so Shutdown removes only ours
}

// New builds a server for cfg. An empty token turns authentication off; m may be nil, which
// leaves /metrics out. cfg.MaxBody <= 0 means config.DefaultControlMaxBody.
func New(cfg config.ControlConfig, token config.Secret, b Backend, m *metrics.Metrics, log zerolog.Logger) *Server {
	s := &Server{cfg: cfg, token: token, b: b, log: log, maxBody: int64(cfg.MaxBody), now: time.Now}
	if s.maxBody <= 0 {
		s.maxBody = int64(config.DefaultControlMaxBody)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/streams/{name}/messages", s.handleSend)
	mux.HandleFunc("GET /v1/streams", s.handleStatus)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /readyz", s.handleReady)
	if m != nil {
		mux.Handle("GET /metrics", m.Handler())
	}
	s.srv = &http.Server{
		Handler:           s.auth(mux),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          stdlog.New(log.With().Str("source", "net/http").Logger(), "", 0),
	}
	return s
}

// Listen binds cfg.Listen: "host:port", or "unix:/path" created with cfg.SocketMode
// (default 0600). A stale socket file is replaced; a live one, or any other file, is an error.
func (s *Server) Listen() error {
	network, addr, err := parseListen(s.cfg.Listen)
	if err != nil {
		return err
	}
	if network == "tcp" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		s.ln, s.addr = ln, ln.Addr().String()
	} else {
		mode := os.FileMode(0o600)
		if s.cfg.SocketMode != "" {
			v, err := strconv.ParseUint(s.cfg.SocketMode, 8, 32)
			if err != nil || v > 0o777 {
				return fmt.Errorf("listen %s: socket_mode %q is not an octal file mode", addr, s.cfg.SocketMode)
			}
			mode = os.FileMode(v)
		}
		ln, err := listenUnix(addr, mode)
		if err != nil {
			return err
		}
		info, err := os.Lstat(addr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		s.ln, s.addr, s.sockPath, s.sockInfo = ln, "unix:"+addr, addr, info
	}
	s.log.Info().Str("addr", s.addr).Bool("auth", s.token != "").Msg("control api listening")
	return nil
}

// listenUnix binds the socket in a fresh 0700 directory beside path, sets its mode, then
// renames it into place, so nobody can connect before the mode is right (a chmod after
// bind leaves a window, and the umask is process-wide).
func listenUnix(path string, mode os.FileMode) (*net.UnixListener, error) {
	if err := checkStale(path); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".holdfast-sock-")
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // the file moves; Shutdown removes it by its final path
	if err := os.Chmod(tmp, mode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return ln, nil
}

// checkStale allows path to be absent or a socket nobody answers on (left by a crash).
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("listen %s: file exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, staleDialTimeout); err == nil {
		_ = c.Close()
		return fmt.Errorf("listen %s: another process is listening", path)
	}
	return nil
}

// Serve answers requests until Shutdown, then returns http.ErrServerClosed.
func (s *Server) Serve() error {
	if s.ln == nil {
		return errors.New("serve: Listen was not called")
	}
	return s.srv.Serve(s.ln)
}

// Addr is the bound address: "127.0.0.1:7070" or "unix:/path"; "" before Listen. It is a
// valid control.listen value, so NewClient can dial it.
func (s *Server) Addr() string { return s.addr }

// Drain makes every later POST of messages answer 503, and /readyz fail.
func (s *Server) Drain() { s.draining.Store(true) }

// Shutdown stops accepting, waits for requests in flight until ctx is done, and removes the
// socket file if it is still the one Listen created.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if s.ln != nil {
		_ = s.ln.Close() // Serve may never have run; a second Close is harmless
	}
	if s.sockPath != "" {
		if fi, statErr := os.Lstat(s.sockPath); statErr == nil && os.SameFile(fi, s.sockInfo) {
			_ = os.Remove(s.sockPath)
		}
	}
	if err != nil {
		return fmt.Errorf("shutdown control api: %w", err)
	}
	return nil
}

// auth requires "Authorization: Bearer <token>" on every route when a token is set.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.token == "" {
		return next
	}
	want := sha256.Sum256([]byte(s.token)) // hashing first keeps the compare constant-time in length too
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		got := ""
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			got = strings.TrimSpace(h[7:])
		}
		sum := sha256.Sum256([]byte(got))
		if got == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			s.logUnauthorized(r)
			w.Header().Set("WWW-Authenticate", `Bearer realm="holdfast"`)
			s.writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("name")
	if s.draining.Load() {
		s.writeError(w, http.StatusServiceUnavailable, "draining")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", s.maxBody))
			return
		}
		s.writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	msgs, err := parseBody(body, ct == "application/x-ndjson")
	if err != nil {
		s.writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), backendTimeout)
	defer cancel()
	depth, err := s.b.Enqueue(ctx, stream, msgs)
	switch {
	case err == nil:
		s.log.Debug().Str("stream", stream).Int("accepted", len(msgs)).Int("depth", depth).Msg("messages queued")
		s.writeJSON(w, http.StatusAccepted, SendResponse{Accepted: len(msgs), Depth: depth})
	case errors.Is(err, ErrUnknownStream):
		s.writeError(w, http.StatusNotFound, fmt.Sprintf("unknown stream %q", stream))
	case errors.Is(err, queue.ErrFull):
		w.Header().Set("Retry-After", "1")
		s.writeError(w, http.StatusTooManyRequests, "queue full")
	case errors.Is(err, queue.ErrTooLarge):
		s.writeError(w, http.StatusRequestEntityTooLarge, "message larger than the queue's max_bytes")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		s.log.Warn().Str("stream", stream).Err(err).Msg("enqueue timed out")
		s.writeError(w, http.StatusServiceUnavailable, "backend did not answer")
	default:
		s.log.Error().Str("stream", stream).Err(err).Msg("enqueue")
		s.writeError(w, http.StatusInternalServerError, "enqueue: "+err.Error())
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, ok := s.status(w, r)
	if ok {
		s.writeJSON(w, http.StatusOK, toResponse(st))
	}
}

// status asks the backend, answering 503 itself when it cannot.
func (s *Server) status(w http.ResponseWriter, r *http.Request) (*messages.Status, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), backendTimeout)
	defer cancel()
	st, err := s.b.Status(ctx)
	if err != nil {
		s.log.Warn().Err(err).Msg("status unavailable")
		s.writeError(w, http.StatusServiceUnavailable, "status unavailable: "+err.Error())
		return nil, false
	}
	return st, true
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	err := s.b.Ping(ctx)
	if err == nil {
		err = ctx.Err() // answered, but too late
	}
	if err != nil {
		s.log.Warn().Err(err).Msg("health check")
		s.writeText(w, http.StatusServiceUnavailable, "unhealthy: "+err.Error())
		return
	}
	s.writeText(w, http.StatusOK, "ok")
}

// handleReady answers 200 when every stream is delivering (messages.StreamStatus.Ready),
// else 503; the JSON body names each stream that is not ready and why.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	out := ReadyResponse{NotReady: []NotReadyRow{}}
	if s.draining.Load() {
		out.Draining = true
		s.writeJSON(w, http.StatusServiceUnavailable, out)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), backendTimeout)
	defer cancel()
	st, err := s.b.Status(ctx)
	if err != nil {
		s.log.Warn().Err(err).Msg("status unavailable")
		out.Error = "status unavailable: " + err.Error()
		s.writeJSON(w, http.StatusServiceUnavailable, out)
		return
	}
	for _, row := range st.Streams {
		if !row.Ready {
			out.NotReady = append(out.NotReady, NotReadyRow{Stream: row.Stream, State: row.State, Reasons: row.NotReady})
		}
	}
	if len(out.NotReady) > 0 {
		s.writeJSON(w, http.StatusServiceUnavailable, out)
		return
	}
	out.Ready = true
	s.writeJSON(w, http.StatusOK, out)
}

// parseBody splits a body into compact JSON objects, all or none. With ndjson each non-blank
// line must be one object; otherwise the body is read as a sequence of JSON values, so a
// single (even pretty-printed) object and unlabelled NDJSON both work. Errors name the line.
func parseBody(body []byte, ndjson bool) ([][]byte, error) {
	var msgs [][]byte
	add := func(raw []byte, line int) error {
		if raw[0] != '{' {
			return fmt.Errorf("line %d: not a JSON object", line)
		}
		if !utf8.Valid(raw) { // json accepts it, but a text frame must be UTF-8 (RFC 6455 §5.6)
			return fmt.Errorf("line %d: invalid UTF-8", line+badUTF8Line(raw))
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return fmt.Errorf("line %d: invalid JSON: %w", line, err)
		}
		msgs = append(msgs, buf.Bytes())
		return nil
	}
	if ndjson {
		for i, line := range bytes.Split(body, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			if !json.Valid(line) {
				return nil, fmt.Errorf("line %d: invalid JSON", i+1)
			}
			if err := add(line, i+1); err != nil {
				return nil, err
			}
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		for {
			start := int(dec.InputOffset())
			for start < len(body) && isSpace(body[start]) {
				start++
			}
			line := 1 + bytes.Count(body[:start], []byte("\n"))
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var se *json.SyntaxError
				if errors.As(err, &se) {
					line = 1 + bytes.Count(body[:min(int(se.Offset), len(body))], []byte("\n"))
				}
				return nil, fmt.Errorf("line %d: invalid JSON: %w", line, err)
			}
			if err := add(raw, line); err != nil {
				return nil, err
			}
		}
	}
	if len(msgs) == 0 {
		return nil, errors.New("empty body: want a JSON object or NDJSON")
	}
	return msgs, nil
}

// badUTF8Line is how many newlines precede the first invalid UTF-8 sequence in raw.
func badUTF8Line(raw []byte) int {
	for i := 0; i < len(raw); {
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n <= 1 {
			return bytes.Count(raw[:i], []byte("\n"))
		}
		i += n
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// parseListen splits a control.listen value into a network and an address.
func parseListen(listen string) (network, addr string, err error) {
	if listen == "" {
		return "", "", ErrOff
	}
	if path, ok := strings.CutPrefix(listen, "unix:"); ok {
		if path == "" {
			return "", "", fmt.Errorf("control listen %q: empty socket path", listen)
		}
		return "unix", path, nil
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return "", "", fmt.Errorf("control listen %q: %w", listen, err)
	}
	return "tcp", listen, nil
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug().Err(err).Msg("write response") // the client went away
	}
}

func (s *Server) writeError(w http.ResponseWriter, code int, msg string) {
	s.writeJSON(w, code, ErrorResponse{Error: msg})
}

func (s *Server) writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if _, err := io.WriteString(w, msg+"\n"); err != nil {
		s.log.Debug().Err(err).Msg("write response")
	}
}

// unauthLogEvery is the most often a refused control request is logged; the line says how
// many were refused in between, so a client hammering the API cannot flood the journal.
const unauthLogEvery = 10 * time.Second

func (s *Server) logUnauthorized(r *http.Request) {
	now := s.now()
	s.unauthMu.Lock()
	if !s.unauthLogged.IsZero() && now.Sub(s.unauthLogged) < unauthLogEvery {
		s.unauthSuppressed++
		s.unauthMu.Unlock()
		return
	}
	suppressed := s.unauthSuppressed
	s.unauthLogged, s.unauthSuppressed = now, 0
	s.unauthMu.Unlock()
	s.log.Warn().Str("method", r.Method).Str("path", r.URL.Path).Str("remote", r.RemoteAddr).
		Int("refused_since_last_line", suppressed).Msg("control request unauthorized")
}
