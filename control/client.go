package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"holdfast/config"
)

// Client limits. The client does one request per CLI run, so it keeps no idle connections.
const (
	clientDialTimeout = 5 * time.Second
	clientTimeout     = 30 * time.Second // whole request, when ctx has no earlier deadline
	maxResponse       = 16 << 20
	clientBase        = "http://holdfast" // the host is ignored: every dial goes to the configured address
)

// APIError is a non-2xx answer from the control API.
type APIError struct {
	Code    int    // HTTP status
	Message string // the server's error text
}

func (e *APIError) Error() string {
	return fmt.Sprintf("control api: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Client calls the control API over TCP or a unix socket. It is safe for concurrent use.
type Client struct {
	http  *http.Client
	token config.Secret
}

// NewClient dials cfg.Listen ("host:port" or "unix:/path") for every request, sending token
// as a bearer token when it is not empty. It returns ErrOff when cfg.Listen is "".
func NewClient(cfg config.ControlConfig, token config.Secret) (*Client, error) {
	network, addr, err := parseListen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: clientDialTimeout}
	tr := &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, network, addr) },
		DisableKeepAlives: true, // no idle goroutines left behind; Proxy stays nil so HTTP_PROXY never applies
	}
	return &Client{http: &http.Client{Transport: tr, Timeout: clientTimeout}, token: token}, nil
}

// Status fetches GET /v1/streams.
func (c *Client) Status(ctx context.Context) (StatusResponse, error) {
	var out StatusResponse
	err := c.do(ctx, http.MethodGet, "/v1/streams", "", nil, &out)
	if err != nil {
		return StatusResponse{}, fmt.Errorf("status: %w", err)
	}
	return out, nil
}

// Send posts body (one JSON object, or NDJSON when ndjson) to stream's outbound queue.
func (c *Client) Send(ctx context.Context, stream string, body []byte, ndjson bool) (SendResponse, error) {
	ct := "application/json"
	if ndjson {
		ct = "application/x-ndjson"
	}
	var out SendResponse
	err := c.do(ctx, http.MethodPost, "/v1/streams/"+url.PathEscape(stream)+"/messages", ct, body, &out)
	if err != nil {
		return SendResponse{}, fmt.Errorf("send to %s: %w", stream, err)
	}
	return out, nil
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, clientBase+path, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+string(c.token))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &APIError{Code: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// RenderStatus writes s as an aligned table, one stream per line, and returns the
// writer's error. Times are UTC.
func RenderStatus(w io.Writer, s StatusResponse) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tSTATE\tVIA\tATTEMPT\tSINCE\tQUEUE\tEVENTS\tERRORS\tLAST ERROR")
	for _, r := range s.Streams {
		state := r.State
		if r.RetryIn != "" {
			state += " (retry in " + r.RetryIn + ")"
		}
		attempt := "-"
		if r.Attempt > 0 {
			attempt = strconv.Itoa(r.Attempt)
			if r.MaxAttempts > 0 {
				attempt += "/" + strconv.Itoa(r.MaxAttempts)
			}
		}
		since := "-"
		if r.Since != nil {
			since = r.Since.UTC().Format(time.RFC3339)
		}
		queue := strconv.Itoa(r.Queue.Depth)
		if lost := r.Queue.Dropped + r.Queue.Expired; lost > 0 {
			queue += fmt.Sprintf(" (%d lost)", lost)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n",
			oneLine(r.Name), state, dash(r.Via), attempt, since, queue, r.EventsIn, r.ParseErrors, dash(oneLine(r.LastError)))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line whatever an error message contains.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
