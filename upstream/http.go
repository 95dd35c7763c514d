package upstream

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// credential is the token presented in "Authorization: Bearer …" or ?token=. Another
// Authorization scheme counts as a wrong token.
func credential(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return tok, true
		}
		return "", true
	}
	if q := r.URL.Query(); q.Has("token") {
		return q.Get("token"), true
	}
	return "", false
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// authorizeHTTP checks the token of a /poll or /send request and answers 401 when it fails.
func (s *Server) authorizeHTTP(w http.ResponseWriter, r *http.Request) bool {
	tok, presented := credential(r)
	s.mu.Lock()
	ok := s.token == "" || presented && tokenOK(tok, s.token)
	if presented || !ok {
		s.authAttempts++
		s.notifyLocked()
	}
	s.mu.Unlock()
	if !ok {
		unauthorized(w)
	}
	return ok
}

// handlePoll serves GET /poll?since=N: the stored events after N, at most 500, as
// {"events":[…]} (shape=array: a bare array; shape=object: only the latest, 204 when none).
// The ETag is the seq of the last event returned (or the latest seq when none), so a client
// sending it back in If-None-Match gets 304 until something newer exists.
func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request) {
	s.set(func() { s.polls++ })
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.authorizeHTTP(w, r) {
		return
	}
	s.mu.Lock()
	status, body := s.pollStatus, s.pollBody
	s.mu.Unlock()
	if body != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(orDefault(status, http.StatusOK))
		_, _ = w.Write(body)
		return
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}

	q := r.URL.Query()
	var since uint64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			http.Error(w, "since: not a number", http.StatusBadRequest)
			return
		}
		since = n
	}
	shape := q.Get("shape")
	s.mu.Lock()
	evs, last := s.historyAfter(since), s.seq
	s.mu.Unlock()
	switch shape {
	case "", "envelope", "array":
		evs = evs[:min(len(evs), maxPollBatch)]
	case "object":
		evs = evs[max(len(evs)-1, 0):]
	default:
		http.Error(w, "shape: want envelope, array or object", http.StatusBadRequest)
		return
	}
	if len(evs) > 0 {
		last = evs[len(evs)-1].seq
	}
	etag := `"` + strconv.FormatUint(last, 10) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}

	var buf bytes.Buffer
	switch shape {
	case "object":
		if len(evs) == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_ = writePadded(&buf, evs[0].data, evs[0].pad) // a bytes.Buffer does not fail
	case "array":
		writeArray(&buf, evs)
	default:
		buf.WriteString(`{"events":`)
		writeArray(&buf, evs)
		buf.WriteByte('}')
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

func writeArray(buf *bytes.Buffer, evs []event) {
	buf.WriteByte('[')
	for i, e := range evs {
		if i > 0 {
			buf.WriteByte(',')
		}
		_ = writePadded(buf, e.data, e.pad)
	}
	buf.WriteByte(']')
}

// handleSend serves POST /send: one JSON object, recorded in Outbound, answered 202.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	s.set(func() { s.sends++ })
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.authorizeHTTP(w, r) {
		return
	}
	if status := get(s, func() int { return s.sendStatus }); status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, readLimit))
	var msg map[string]any
	if err == nil {
		err = json.Unmarshal(body, &msg)
	}
	if err != nil || msg == nil {
		http.Error(w, "body: want one JSON object", http.StatusBadRequest)
		return
	}
	s.set(func() { s.outbound = append(s.outbound, msg) })
	w.WriteHeader(http.StatusAccepted)
}

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
