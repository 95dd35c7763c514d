package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"holdfast/config"
	"holdfast/messages"
	"holdfast/retry"
	"holdfast/tlsconf"
)

// drainLimit is how much of a response body is read so the connection can be reused.
const drainLimit = 64 << 10

// webhook POSTs events. With batch_max 1 every body is one envelope object; above 1 every
// body is a JSON array of envelopes, even when only one event was waiting, so a receiver
// sees one shape whatever the traffic.
type webhook struct {
	array     bool // batch_max > 1
	url       string
	host      string // for errors and logs: never the full URL, whose query may hold secrets
	headers   map[string]string
	tokenEnv  string
	tokenFile string
	timeout   time.Duration
	client    *http.Client
	now       func() time.Time // for Retry-After dates when the response has no Date header
}

func newWebhook(cfg config.SinkConfig) (*webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook needs an http or https url")
	}
	tc, err := tlsconf.Client(cfg.TLS)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &webhook{
		array:     cfg.BatchMax > 1,
		url:       cfg.URL,
		host:      u.Host,
		headers:   cfg.Headers,
		tokenEnv:  cfg.TokenEnv,
		tokenFile: cfg.TokenFile,
		timeout:   timeoutOr(cfg.Timeout, config.DefaultWebhookTimeout),
		client:    &http.Client{Transport: tr},
		now:       time.Now,
	}, nil
}

// Write sends one request. 2xx is success; 408, 429, 5xx and transport errors are retryable
// (with the Retry-After hint); any other status is permanent.
func (w *webhook) Write(ctx context.Context, events []messages.Event) error {
	body := events[0].Line
	if w.array || len(events) > 1 {
		body = []byte{'['}
		for i, e := range events {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, e.Line...)
		}
		body = append(body, ']')
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &Error{Permanent: true, Err: fmt.Errorf("post %s: %w", w.host, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	if w.tokenEnv != "" || w.tokenFile != "" {
		tok, err := config.ReadToken(w.tokenEnv, w.tokenFile) // every request: rotation needs no reload
		if err != nil {
			return fmt.Errorf("post %s: %w", w.host, err)
		}
		req.Header.Set("Authorization", "Bearer "+string(tok))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the full URL
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("post %s: timed out after %v: %w", w.host, w.timeout, err)
		}
		return fmt.Errorf("post %s: %w", w.host, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	_ = resp.Body.Close()
	return w.classify(resp)
}

func (w *webhook) classify(resp *http.Response) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	err := fmt.Errorf("post %s: status %d %s", w.host, code, http.StatusText(code))
	if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
		return &Error{RetryAfter: retry.RetryAfter(resp.Header, w.now(), MaxHint), Err: err}
	}
	return &Error{Permanent: true, Err: err}
}

func (w *webhook) Flush() error  { return nil }
func (w *webhook) Reopen() error { return nil }

// Close drops idle keep-alive connections (and their goroutines).
func (w *webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
