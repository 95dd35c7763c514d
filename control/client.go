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
	"holdfast/messages"
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

// RenderStatus writes s as aligned tables: one line per stream, then one per sink of each
// stream, then the reasons of every stream that is not ready. It returns the writer's
// error. Times are UTC; ages count from the daemon's snapshot time.
//
// REJECTED counts inbound frames that could not be routed (not JSON, no type, binary);
// LAST EVENT is the age of the newest routed event.
func RenderStatus(w io.Writer, s StatusResponse) error {
	now := time.Time{}
	if s.Time != nil {
		now = *s.Time
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tSTATE\tREADY\tVIA\tATTEMPT\tSINCE\tQUEUE\tEVENTS\tLAST EVENT\tREJECTED\tLAST ERROR")
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
		lastEvent := "-"
		if r.LastEventAge != nil {
			lastEvent = ageString(time.Duration(*r.LastEventAge*float64(time.Second))) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n",
			oneLine(r.Name), state, yesNo(r.Ready), dash(r.Via), attempt, since, queue, r.EventsIn, lastEvent,
			r.ParseErrors, lastError(r.LastError, r.LastErrorAt, now))
	}
	sinks := 0
	for _, r := range s.Streams {
		sinks += len(r.Sinks)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if sinks > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "SINK\tSTREAM\tKIND\tSTATE\tDELIVERED\tRETRIES\tDEAD-LETTERED\tBACKLOG\tLAST ERROR")
		for _, r := range s.Streams {
			for _, k := range r.Sinks {
				state := k.State
				if k.FailingSince != nil && !now.IsZero() {
					state += " for " + ageString(now.Sub(*k.FailingSince))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", oneLine(k.Name), oneLine(r.Name), k.Kind, state,
					k.Delivered, k.Retries, k.DeadLettered, k.Backlog, lastError(k.LastError, k.LastErrorAt, now))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c := s.Cluster; c != nil {
		fmt.Fprintf(w, "\ncluster: instance %s, %s, live: %s\n", oneLine(c.Instance), c.State, oneLine(strings.Join(c.Live, ", ")))
		fmt.Fprintln(tw, "STREAM\tOWNER\tEPOCH")
		for _, cs := range c.Streams {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", oneLine(cs.Name), dash(oneLine(cs.Owner)), cs.Epoch)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if c.LastError != "" {
			fmt.Fprintf(w, "cluster error: %s\n", oneLine(c.LastError))
		}
		for _, warn := range c.Warnings {
			fmt.Fprintf(w, "cluster warning: %s\n", oneLine(warn))
		}
	}
	for _, r := range s.Streams {
		for _, why := range r.NotReady {
			if _, err := fmt.Fprintf(w, "not ready: %s: %s\n", oneLine(r.Name), oneLine(why)); err != nil {
				return err
			}
		}
	}
	return nil
}

// lastError is "msg (3.2s ago)", or "-" when there is none.
func lastError(msg string, at *time.Time, now time.Time) string {
	if msg == "" {
		return "-"
	}
	msg = oneLine(msg)
	if at != nil && !now.IsZero() {
		msg += " (" + ageString(now.Sub(*at)) + " ago)"
	}
	return msg
}

// ageString rounds d for people: "850ms", "3.2s", "4m10s".
func ageString(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line whatever an error message contains.
func oneLine(s string) string {
	return messages.Printable(strings.Join(strings.Fields(s), " "))
}
