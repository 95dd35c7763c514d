package messages

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseFrame(t *testing.T) {
	for _, tt := range []struct {
		name, in, field string
		want            Frame
	}{
		{"type and numeric cursor", `{"type":"processing_progress","seq":42,"progress":1.5}`, "seq", Frame{Type: "processing_progress", Cursor: "42"}},
		{"string cursor", `{"seq":"abc","type":"x"}`, "seq", Frame{Type: "x", Cursor: "abc"}},
		{"cursor not asked for", `{"type":"x","seq":7}`, "", Frame{Type: "x"}},
		{"nested values skipped", `{"a":{"type":"inner","b":[1,{"c":"}"}]},"type":"outer"}`, "", Frame{Type: "outer"}},
		{"escaped type", `{"type":"a\"b\u00e9"}`, "", Frame{Type: "a\"bé"}},
		{"whitespace", " {\n \"type\" : \"x\" , \"seq\" : -3 }\n", "seq", Frame{Type: "x", Cursor: "-3"}},
		{"not JSON", `{"type":`, "", Frame{Invalid: InvalidJSON}},
		{"garbage", `hello`, "", Frame{Invalid: InvalidJSON}},
		{"array", `[{"type":"x"}]`, "", Frame{Invalid: InvalidObject}},
		{"string", `"type"`, "", Frame{Invalid: InvalidObject}},
		{"no type", `{"kind":"x"}`, "", Frame{Invalid: InvalidType}},
		{"numeric type", `{"type":3}`, "", Frame{Invalid: InvalidType}},
		{"null type", `{"type":null}`, "", Frame{Invalid: InvalidType}},
		{"cursor bool ignored", `{"type":"x","seq":true}`, "seq", Frame{Type: "x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseFrame([]byte(tt.in), tt.field); got != tt.want {
				t.Errorf("ParseFrame(%q, %q) = %+v, want %+v", tt.in, tt.field, got, tt.want)
			}
		})
	}
}

func TestAppendEnvelopeKeepsOriginalBytes(t *testing.T) {
	msg := `{"type":"x", "seq":1,"f":1.50}`
	at := time.Date(2026, 11, 28, 1, 2, 3, 4000, time.FixedZone("x", 3600))
	line := string(AppendEnvelope(nil, "s\"1", "x", ViaWebSocket, at, []byte(msg)))
	want := `{"stream":"s\"1","type":"x","via":"websocket","received_at":"2026-11-28T00:02:03.000004Z","message":` + msg + `}`
	if line != want {
		t.Fatalf("envelope\n got %s\nwant %s", line, want)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Fatalf("envelope is not JSON: %v", err)
	}
	multi := AppendEnvelope(nil, "s", "x", ViaPoll, at, []byte("{\n  \"type\": \"x\"\n}"))
	if strings.ContainsAny(string(multi), "\n\r") {
		t.Errorf("a pretty-printed message must be compacted to keep one line: %q", multi)
	}
}

func TestAppendRejected(t *testing.T) {
	at := time.Unix(0, 0)
	for _, tt := range []struct {
		reason string
		frame  []byte
		key    string
	}{
		{InvalidJSON, []byte("not json\n"), "frame"},
		{InvalidBinary, []byte{0, 1, 2}, "frame_base64"},
		{InvalidJSON, []byte{0xff, 0xfe}, "frame_base64"},
	} {
		line := AppendRejected(nil, "s", tt.reason, ViaWebSocket, at, tt.frame)
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("rejected line %q is not JSON: %v", line, err)
		}
		if _, ok := v[tt.key]; !ok || v["rejected"] != tt.reason {
			t.Errorf("rejected line %s: want key %q and reason %q", line, tt.key, tt.reason)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{`{"type":"x","seq":1}`, `{"a":[{"type":1}],"type":"y"}`, `[]`, `{"type":"\u0000"}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := ParseFrame(data, "seq")
		var v map[string]any
		isObj := json.Unmarshal(data, &v) == nil && v != nil
		typ, typOK := v["type"].(string)
		if got.Invalid == "" {
			if !isObj || !typOK || typ != got.Type {
				t.Fatalf("ParseFrame(%q) accepted %+v; json says object=%v type=%q", data, got, isObj, typ)
			}
			line := AppendEnvelope(nil, "s", got.Type, ViaWebSocket, time.Unix(0, 0), data)
			if !json.Valid(line) {
				t.Fatalf("envelope of %q is not JSON: %s", data, line)
			}
		} else if isObj && typOK && json.Valid(data) {
			t.Fatalf("ParseFrame(%q) rejected a valid frame: %s", data, got.Invalid)
		}
	})
}
