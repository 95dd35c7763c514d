// Package poll is the HTTP side of the polling fallback that takes over when WebSocket
// reconnects run out. It has no goroutines of its own: the poller actor calls Poll and
// Send from a goroutine it owns and decides the schedule from the typed errors.
package poll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"holdfast/config"
	"holdfast/retry"
)

// Defaults applied by New when the configuration leaves a field empty.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultCursorParam = "since"
	DefaultShape       = ShapeAuto
)

// MaxBody is the largest poll response read; a larger one is ErrBody.
const MaxBody = 32 << 20

// drainLimit bounds how much of an unwanted body is read so the connection can be reused.
const drainLimit = 64 << 10

var (
	// ErrAuth means the server rejected the credentials (401 or 403).
	ErrAuth = errors.New("credentials rejected")
	// ErrBody means a 2xx body was not JSON or not in the configured shape.
	ErrBody = errors.New("unusable body")
	// ErrNoSendURL means Send was called without a send_url configured.
	ErrNoSendURL = errors.New("no send_url configured")
)

// StatusError is an HTTP status that is neither success nor ErrAuth.
type StatusError struct {
	Code       int
	RetryAfter time.Duration // from Retry-After, at most max_interval; 0 when absent
}

func (e *StatusError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("status %d, retry after %v", e.Code, e.RetryAfter)
	}
	return fmt.Sprintf("status %d", e.Code)
}

// Retryable reports whether the same request may succeed later: 5xx, 429 and 408.
func (e *StatusError) Retryable() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout
}

// Auth says how the token travels on one request; the caller fills it per request so a
// rotated token is picked up. The zero value sends no credentials. Values are secrets:
// never log them (String leaves them out).
type Auth struct {
	Header     string // header name, e.g. "Authorization"; "" = no header
	Value      string // full header value, e.g. "Bearer …"
	QueryParam string // query parameter name; "" = no query token
	QueryValue string
}

// String names where the token goes, never the token.
func (a Auth) String() string {
	return fmt.Sprintf("poll.Auth{Header:%q QueryParam:%q}", a.Header, a.QueryParam)
}

// Result is one successful poll.
type Result struct {
	Events      [][]byte // each a raw JSON object, bytes exactly as in the body; nil on 304
	NotModified bool     // 304: nothing new since the ETag sent
	ETag        string   // ETag of this response ("" when the server sends none)
	Status      int
}

// Client polls poll_url and posts to send_url. Poll and Send may be called from several
// goroutines; the only shared state is the last ETag.
type Client struct {
	cfg              config.FallbackConfig
	hc               *http.Client
	poll             *url.URL // nil when PollURL does not parse; pollErr says why
	send             *url.URL
	pollErr, sendErr error

	mu         sync.Mutex
	etag       string // last ETag received
	etagCursor string // cursor the ETag belongs to: a different cursor is a different resource
}

// New returns a Client for cfg. hc carries TLS and proxy settings; nil means a plain
// http.Client. Empty Timeout, CursorParam and Shape take their defaults. A URL that does
// not parse is reported by every Poll or Send.
func New(cfg config.FallbackConfig, hc *http.Client) *Client {
	if cfg.Timeout.Duration <= 0 {
		cfg.Timeout.Duration = DefaultTimeout
	}
	if cfg.CursorParam == "" {
		cfg.CursorParam = DefaultCursorParam
	}
	if cfg.Shape == "" {
		cfg.Shape = DefaultShape
	}
	if hc == nil {
		hc = &http.Client{}
	}
	cfg.Headers = maps.Clone(cfg.Headers) // read from several goroutines; the caller's map may change
	c := &Client{cfg: cfg, hc: hc}
	c.poll, c.pollErr = parseURL("poll_url", cfg.PollURL)
	if cfg.SendURL == "" {
		c.sendErr = ErrNoSendURL
	} else {
		c.send, c.sendErr = parseURL("send_url", cfg.SendURL)
	}
	return c
}

// parseURL reports errors without the URL itself, whose query may hold a token.
func parseURL(key, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse %s: %w", key, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("parse %s: want an absolute http or https URL", key)
	}
	return u, nil
}

// Poll fetches poll_url once. cursor, when not empty, is sent as cursor_param; the ETag of
// the last response for the same cursor is sent as If-None-Match. Errors are ErrAuth,
// *StatusError, ErrBody, or the transport's error (timeouts, refused connections,
// context.Canceled at teardown), each wrapped with the host only.
func (c *Client) Poll(ctx context.Context, cursor string, auth Auth) (Result, error) {
	if c.pollErr != nil {
		return Result{}, fmt.Errorf("poll: %w", c.pollErr)
	}
	host := c.poll.Host
	u := *c.poll
	q := u.Query()
	if cursor != "" {
		q.Set(c.cfg.CursorParam, cursor)
	}
	if auth.QueryParam != "" {
		q.Set(auth.QueryParam, auth.QueryValue)
	}
	u.RawQuery = q.Encode()

	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.Duration)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Result{}, fmt.Errorf("poll %s: %w", host, unwrapURL(err))
	}
	req.Header.Set("Accept", "application/json") // before setHeaders so the config can override it
	c.setHeaders(req, auth)
	c.mu.Lock()
	etag := ""
	if c.etagCursor == cursor {
		etag = c.etag
	}
	c.mu.Unlock()
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("poll %s: %w", host, unwrapURL(err))
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode == http.StatusNotModified:
		drain(resp.Body)
		if e := resp.Header.Get("ETag"); e != "" {
			etag = e
		}
		return Result{NotModified: true, ETag: etag, Status: resp.StatusCode}, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		drain(resp.Body)
		return Result{}, fmt.Errorf("poll %s: %w", host, c.statusErr(resp))
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return Result{}, fmt.Errorf("poll %s: read body: %w", host, unwrapURL(err))
	}
	if len(body) > MaxBody {
		return Result{}, fmt.Errorf("poll %s: %w: over %d bytes", host, ErrBody, MaxBody)
	}
	res := Result{ETag: resp.Header.Get("ETag"), Status: resp.StatusCode}
	// 204 or an empty body is "nothing new", not a malformed reply.
	if resp.StatusCode != http.StatusNoContent && len(bytes.TrimSpace(body)) > 0 {
		if res.Events, err = Parse(c.cfg.Shape, body); err != nil {
			return Result{}, fmt.Errorf("poll %s: %w", host, err)
		}
	}
	c.mu.Lock()
	c.etag, c.etagCursor = res.ETag, cursor
	c.mu.Unlock()
	return res, nil
}

// Send posts msg as application/json to send_url; any 2xx is success. Errors are as for
// Poll, plus ErrNoSendURL. Send does not retry: a POST may have been applied.
func (c *Client) Send(ctx context.Context, msg []byte, auth Auth) error {
	if c.sendErr != nil {
		return fmt.Errorf("send: %w", c.sendErr)
	}
	host := c.send.Host
	u := *c.send
	if auth.QueryParam != "" {
		q := u.Query()
		q.Set(auth.QueryParam, auth.QueryValue)
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.Duration)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(msg))
	if err != nil {
		return fmt.Errorf("send %s: %w", host, unwrapURL(err))
	}
	c.setHeaders(req, auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("send %s: %w", host, unwrapURL(err))
	}
	defer resp.Body.Close()
	drain(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("send %s: %w", host, c.statusErr(resp))
	}
	return nil
}

// setHeaders applies the configured headers, then the auth header, which wins.
func (c *Client) setHeaders(req *http.Request, auth Auth) {
	for k, v := range c.cfg.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v // net/http ignores a Host entry in req.Header
			continue
		}
		req.Header.Set(k, v)
	}
	if auth.Header != "" {
		req.Header.Set(auth.Header, auth.Value)
	}
}

// statusErr classifies a failed response. Retry-After is capped at max_interval (no cap
// when that is unset) and its HTTP-date form is measured against the response's Date
// header, the server's own clock; without one a date is ignored.
func (c *Client) statusErr(resp *http.Response) error {
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("status %d: %w", resp.StatusCode, ErrAuth)
	}
	limit := retry.Forever
	if c.cfg.MaxInterval.Duration > 0 {
		limit = c.cfg.MaxInterval.Duration
	}
	return &StatusError{Code: resp.StatusCode, RetryAfter: retry.RetryAfter(resp.Header, time.Time{}, limit)}
}

// unwrapURL drops net/http's *url.Error wrapper, whose text holds the full URL and so any
// token in its query.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// drain reads a little of an unwanted body so the connection can be reused.
func drain(r io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(r, drainLimit)) }
