package wire

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"holdfast/messages"
)

func TestParseFrame(t *testing.T) {
	nest := func(depth int, inner string) string { // depth containers around inner, counting the frame
		return `{"type":"x","d":` + strings.Repeat("[", depth-1) + inner + strings.Repeat("]", depth-1) + `}`
	}
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
		{"not JSON", `{"type":`, "", Frame{Invalid: messages.InvalidJSON}},
		{"garbage", `hello`, "", Frame{Invalid: messages.InvalidJSON}},
		{"array", `[{"type":"x"}]`, "", Frame{Invalid: messages.InvalidObject}},
		{"string", `"type"`, "", Frame{Invalid: messages.InvalidObject}},
		{"no type", `{"kind":"x"}`, "", Frame{Invalid: messages.InvalidType}},
		{"numeric type", `{"type":3}`, "", Frame{Invalid: messages.InvalidType}},
		{"null type", `{"type":null}`, "", Frame{Invalid: messages.InvalidType}},
		{"cursor bool ignored", `{"type":"x","seq":true}`, "seq", Frame{Type: "x"}},

		// Duplicate keys: the last string type wins, but any non-string type rejects the frame;
		// the last string or number cursor wins and other kinds leave it alone.
		{"duplicate type, last wins", `{"type":"a","type":"b"}`, "", Frame{Type: "b"}},
		{"duplicate type, later number", `{"type":"a","type":2}`, "", Frame{Invalid: messages.InvalidType}},
		{"duplicate type, earlier number", `{"type":2,"type":"a"}`, "", Frame{Invalid: messages.InvalidType}},
		{"duplicate type, later object", `{"type":"a","type":{"x":1}}`, "", Frame{Invalid: messages.InvalidType}},
		{"duplicate type, later array", `{"type":"a","type":[1]}`, "", Frame{Invalid: messages.InvalidType}},
		{"duplicate type, later empty object", `{"type":"a","type":{}}`, "", Frame{Invalid: messages.InvalidType}},
		{"duplicate cursor, later null", `{"seq":5,"seq":null,"type":"a"}`, "seq", Frame{Type: "a", Cursor: "5"}},
		{"duplicate cursor, later object", `{"seq":5,"seq":{"a":1},"type":"a"}`, "seq", Frame{Type: "a", Cursor: "5"}},
		{"duplicate cursor, later string", `{"seq":5,"seq":"b","type":"a"}`, "seq", Frame{Type: "a", Cursor: "b"}},
		{"cursor field named type", `{"type":"x"}`, "type", Frame{Type: "x"}},
		{"escaped keys compared as written", `{"ty\u0070e":"a","s\u0065q":1}`, "seq", Frame{Invalid: messages.InvalidType}},
		{"escaped key beside the real one", `{"ty\u0070e":2,"type":"a"}`, "", Frame{Type: "a"}},

		// Numbers: cursor text is kept as written.
		{"negative zero", `{"type":"x","seq":-0}`, "seq", Frame{Type: "x", Cursor: "-0"}},
		{"exponent", `{"type":"x","seq":1e5}`, "seq", Frame{Type: "x", Cursor: "1e5"}},
		{"fraction and signed exponent", `{"type":"x","seq":-12.50E+03}`, "seq", Frame{Type: "x", Cursor: "-12.50E+03"}},
		{"leading zero", `{"type":"x","seq":01}`, "seq", Frame{Invalid: messages.InvalidJSON}},
		{"trailing dot", `{"type":"x","seq":1.}`, "seq", Frame{Invalid: messages.InvalidJSON}},
		{"leading dot", `{"type":"x","seq":.5}`, "seq", Frame{Invalid: messages.InvalidJSON}},
		{"bare minus", `{"type":"x","seq":-}`, "seq", Frame{Invalid: messages.InvalidJSON}},
		{"empty exponent", `{"type":"x","seq":1e+}`, "seq", Frame{Invalid: messages.InvalidJSON}},
		{"plus sign", `{"type":"x","seq":+1}`, "seq", Frame{Invalid: messages.InvalidJSON}},
		{"top-level number", `-0`, "", Frame{Invalid: messages.InvalidObject}},

		// Strings.
		{"surrogate pair", `{"type":"\ud83d\ude00"}`, "", Frame{Type: "😀"}},
		{"lone surrogate", `{"type":"\ud83d"}`, "", Frame{Type: "\ufffd"}},
		{"escaped slash", `{"type":"a\/b"}`, "", Frame{Type: "a/b"}},
		{"escaped NUL cursor", `{"type":"x","seq":"a\u0000b"}`, "seq", Frame{Type: "x", Cursor: "a\x00b"}},
		{"bad escape", `{"type":"a\x"}`, "", Frame{Invalid: messages.InvalidJSON}},
		{"short unicode escape", `{"type":"\u00e"}`, "", Frame{Invalid: messages.InvalidJSON}},
		{"raw control character", "{\"type\":\"a\x01\"}", "", Frame{Invalid: messages.InvalidJSON}},
		{"raw tab", "{\"type\":\"a\tb\"}", "", Frame{Invalid: messages.InvalidJSON}},
		{"raw DEL allowed", "{\"type\":\"a\x7f\"}", "", Frame{Type: "a\x7f"}},
		{"invalid UTF-8 kept as is", "{\"type\":\"a\xffb\"}", "", Frame{Type: "a\xffb"}},
		{"invalid UTF-8 outside a string", "{\"type\":\"a\"}\xff", "", Frame{Invalid: messages.InvalidJSON}},
		{"byte order mark", "\xef\xbb\xbf{\"type\":\"a\"}", "", Frame{Invalid: messages.InvalidJSON}},
		{"unterminated string", `{"type":"a`, "", Frame{Invalid: messages.InvalidJSON}},

		// Structure.
		{"empty", ``, "", Frame{Invalid: messages.InvalidJSON}},
		{"only space", " \n", "", Frame{Invalid: messages.InvalidJSON}},
		{"trailing value", `{"type":"x"}{}`, "", Frame{Invalid: messages.InvalidJSON}},
		{"trailing comma", `{"type":"x",}`, "", Frame{Invalid: messages.InvalidJSON}},
		{"missing colon", `{"type" "x"}`, "", Frame{Invalid: messages.InvalidJSON}},
		{"mismatched close", `{"type":"x","a":[1}}`, "", Frame{Invalid: messages.InvalidJSON}},
		{"bare key", `{type:"x"}`, "", Frame{Invalid: messages.InvalidJSON}},
		{"depth 10000", nest(10000, "1"), "", Frame{Type: "x"}},
		{"depth 10000 with empty innermost", nest(9999, "[]"), "", Frame{Type: "x"}},
		{"depth 10001", nest(10001, "1"), "", Frame{Invalid: messages.InvalidJSON}},
		{"depth 10001 by an empty array", nest(10000, "[]"), "", Frame{Invalid: messages.InvalidJSON}},
		{"depth 10001 by an empty object", nest(10000, "{}"), "", Frame{Invalid: messages.InvalidJSON}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseFrame([]byte(tt.in), tt.field); got != tt.want {
				t.Errorf("ParseFrame(%.80q, %q) = %+v, want %+v", tt.in, tt.field, got, tt.want)
			}
			if got, want := ParseFrame([]byte(tt.in), tt.field).Invalid == messages.InvalidJSON, !json.Valid([]byte(tt.in)); got != want {
				t.Errorf("ParseFrame(%.80q) says not JSON = %v, json.Valid disagrees", tt.in, got)
			}
		})
	}
}

// TestParseFrameAllocs pins the allocation budget: the Type and Cursor strings, nothing else.
func TestParseFrameAllocs(t *testing.T) {
	data := []byte(`{"current_file":"scan_0007.tif","eta":"3s","nested":{"a":[1,2,{"b":null}]},"seq":123456,"type":"processing_progress"}`)
	for _, tt := range []struct {
		field string
		in    []byte
		want  float64
	}{
		{"", data, 1},
		{"seq", data, 2},
		{"seq", data[:len(data)-1], 0}, // rejected frames allocate nothing
	} {
		if got := testing.AllocsPerRun(100, func() { ParseFrame(tt.in, tt.field) }); got != tt.want {
			t.Errorf("ParseFrame(%q, %q) allocates %v times, want %v", tt.in, tt.field, got, tt.want)
		}
	}
}

// TestParseFrameMatchesReference compares ParseFrame with the two-pass implementation it
// replaced, and with json.Valid, on hand-picked inputs and on seeded random mutations.
func TestParseFrameMatchesReference(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		for _, field := range []string{"", "seq", "type", "x"} {
			if got, want := ParseFrame(b, field), parseFrameReference(b, field); got != want {
				t.Fatalf("ParseFrame(%q, %q) = %+v, reference says %+v", b, field, got, want)
			}
		}
		if got, want := ParseFrame(b, "").Invalid == messages.InvalidJSON, !json.Valid(b); got != want {
			t.Fatalf("ParseFrame(%q) says not JSON = %v, json.Valid disagrees", b, got)
		}
	}
	for _, s := range []string{
		`{"type":"a"}`, `{"type":1}`, `{"type":"a","type":"b"}`, `{"type":"a","type":2}`, `{"type":2,"type":"a"}`,
		`{"type":"a","type":{"x":1}}`, `{"type":"a","type":[[]]}`, `{"type":"a","type":[]}`, `{"type":"a","type":true}`,
		`{"seq":5,"type":"a"}`, `{"seq":"x\"y","type":"a"}`, `{"seq":true,"type":"a"}`, `{"seq":5,"seq":null,"type":"a"}`,
		`{"seq":5,"seq":[1],"type":"a"}`, `{"type":"a\u00e9"}`, `{"ty\u0070e":"a"}`, `{"x":{"type":"inner"},"type":"outer"}`,
		`{"x":{"type":"inner"}}`, `["type","a"]`, `"type"`, `{}`, `[]`, `{"type":"a"`, ` {"type" : "a" , "seq" : -1.5e3 } `,
		`{"type":"a","seq":{"a":1}}`, `{"type":"a","x":[1,{"seq":9}],"seq":3}`, `{"type":"\n"}`, "{\"type\":\"a\x01\"}",
		`{"type":"\ud83d\ude00","seq":"\ud83d"}`, `{"type":"\uD83D\uDE00"}`, `{"type":"\udc00\ud800"}`, "{\"type\":\"\\n\xff\"}",
		"{\"type\":\"\xc3\"}", `{"type":"\/\b\f\r\t\\"}`, `{"type":"a","seq":-0}`, `{"type":"a","seq":1e5}`, `{"type":"a","seq":1E-0}`,
		`{"type":"a","seq":01}`, `{"type":"a","seq":1.}`, `{"type":"a","seq":-01}`, `{"type":"a","seq":0.0e}`, `0`, `-0`, `1.5`,
		`true`, `nul`, `null`, `{"":1,"type":""}`, `{"type":"x"} `, `{"type":"x"}x`, `{"type":"x"}]`, "\t{\"type\"\r:\n\"x\"}",
		`{"type":"x","a":"\u00g0"}`, `{"type":"x","a":"\`, `{"type":"x","a":tru}`, `{"type":"x","a":nulls}`, `{"type":"x" , }`,
	} {
		check([]byte(s))
	}
	for _, depth := range []int{1, 2, 100, 9998, 9999, 10000, 10001} {
		for _, inner := range []string{"", "1", "[]", "{}", `{"type":"y"}`, `[{"a":[]}]`} {
			check([]byte(`{"type":"x","d":` + strings.Repeat("[", depth) + inner + strings.Repeat("]", depth) + "}"))
			check([]byte(strings.Repeat(`{"a":`, depth) + inner + strings.Repeat("}", depth)))
		}
	}

	rnd := rand.New(rand.NewPCG(1, 2))
	bases := realisticFrames()
	const n = 30000
	for i := range n {
		var b []byte
		if i%2 == 0 {
			b = bytes.Clone(bases[rnd.IntN(len(bases))])
		} else {
			b = randomFrame(rnd)
		}
		for range rnd.IntN(4) { // 0 to 3 mutations: some valid frames go through unchanged
			b = mutate(rnd, b)
		}
		check(b)
	}
}

// realisticFrames are upstream-like events, padded and not, pretty and compact.
func realisticFrames() [][]byte {
	progress := `{"current_file":"scan_0007.tif","eta":"3s","job":"job-12","progress":14.3,"seq":123456,"sent_at":1764288000123456789,"type":"processing_progress"`
	frames := []string{
		progress + `}`,
		progress + `,"pad":"` + strings.Repeat("x", 200-len(progress)-10) + `"}`,
		`{"type":"job_started","seq":"c-000123","job":{"id":"job-12","tags":["a","b"],"opts":{"dpi":600,"color":true,"crop":null}},"sent_at":1764288000123456789}`,
		`{"seq":42,"type":"note","text":"caf\u00e9 \ud83d\ude00 \"quoted\" \\ \/ \b\f\n\r\t","unicode":"héllo 日本"}`,
		" {\n  \"type\" : \"pretty\",\n  \"seq\" : -0,\n  \"vals\" : [ 1e5, -1.5E-3, 0.25, [], {} ]\n}\n",
		`{"type":"a","type":"b","seq":1,"seq":"2","x":{"type":3}}`,
		`{"ty\u0070e":"x","type":"y","s\u0065q":7}`,
		`[{"type":"x","seq":1}]`,
	}
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = []byte(f)
	}
	return out
}

// randomFrame builds a valid JSON object whose top-level keys collide often, so that
// duplicate and oddly typed "type" and cursor members come up.
func randomFrame(rnd *rand.Rand) []byte {
	keys := []string{`"type"`, `"seq"`, `"x"`, `"ty\u0070e"`, `""`, `"data"`}
	b := []byte{'{'}
	for i := range 1 + rnd.IntN(5) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, keys[rnd.IntN(len(keys))]...)
		b = append(b, ':')
		b = randomValue(rnd, b, 3)
	}
	return append(b, '}')
}

func randomValue(rnd *rand.Rand, b []byte, depth int) []byte {
	scalars := []string{
		`"a"`, `"processing_progress"`, `""`, `"\ud83d\ude00"`, `"\ud83d"`, `"a\"b\\c\/\n"`, `"caf\u00e9"`, "\"h\xc3\xa9\"",
		"\"\xff\"", `0`, `-0`, `1e5`, `-12.5E+3`, `123456`, `0.001`, `true`, `false`, `null`,
	}
	k := rnd.IntN(10)
	if depth == 0 || k < 7 {
		return append(b, scalars[rnd.IntN(len(scalars))]...)
	}
	open, close := byte('['), byte(']')
	if k < 9 {
		open, close = '{', '}'
	}
	b = append(b, open)
	for i := range rnd.IntN(4) {
		if i > 0 {
			b = append(b, ',')
		}
		if open == '{' {
			b = append(b, []string{`"type"`, `"seq"`, `"k"`}[rnd.IntN(3)]...)
			b = append(b, ':')
		}
		b = randomValue(rnd, b, depth-1)
	}
	return append(b, close)
}

// mutate changes b in one random place: a byte replaced, deleted or inserted, a JSON-ish
// fragment inserted, or a slice of b copied elsewhere in it.
func mutate(rnd *rand.Rand, b []byte) []byte {
	const alphabet = `{}[]:,"\ -+.0123456789eEtypsqrufalnbu/` + "\x00\x01\x1f\x7f\x80\xc3\xff\t\n\r"
	fragments := []string{`\u`, `\ud83d`, `\ude00`, `{"type":`, `"seq":`, `[`, `]}`, `-0`, `1e5`, `01`, `1.`, "\xff", "\x01", `true`, `null`, `{}`, `[]`, `,`}
	if len(b) == 0 {
		return append(b, alphabet[rnd.IntN(len(alphabet))])
	}
	p := rnd.IntN(len(b))
	insert := func(s []byte) []byte { return append(b[:p:p], append(s, b[p:]...)...) }
	switch rnd.IntN(5) {
	case 0:
		b[p] = alphabet[rnd.IntN(len(alphabet))]
		return b
	case 1:
		return append(b[:p], b[p+1:]...)
	case 2:
		return insert([]byte{alphabet[rnd.IntN(len(alphabet))]})
	case 3:
		return insert([]byte(fragments[rnd.IntN(len(fragments))]))
	default:
		q := rnd.IntN(len(b))
		return insert(bytes.Clone(b[q : q+rnd.IntN(min(len(b)-q, 16)+1)]))
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{`{"type":"x","seq":1}`, `{"a":[{"type":1}],"type":"y"}`, `[]`, `{"type":"\u0000"}`, `{`,
		`{"type":"a","type":{"b":[]}}`, `{"type":"\ud83d\ude00","seq":-0}`, "{\"type\":\"\xff\",\"seq\":1e5}", `[[[[{}]]]]`,
		`{"type":"` + strings.Repeat("a", 40) + `\"` + strings.Repeat("b", 20) + `\\","seq":7}`, // long strings: skipLong
		"{\"type\":\"" + strings.Repeat("c", 50) + "\x01\"}", `{"type":"` + strings.Repeat("d", 45)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := ParseFrame(data, "seq")
		if want := parseFrameReference(data, "seq"); got != want {
			t.Fatalf("ParseFrame(%q) = %+v, reference says %+v", data, got, want)
		}
		if (got.Invalid == messages.InvalidJSON) != !json.Valid(data) {
			t.Fatalf("ParseFrame(%q) = %+v, but json.Valid says %v", data, got, json.Valid(data))
		}
		if escapedTopKey(data) {
			return // encoding/json unescapes keys; ParseFrame compares them as written
		}
		var v map[string]any
		isObj := json.Unmarshal(data, &v) == nil && v != nil
		typ, typOK := v["type"].(string)
		if got.Invalid == "" {
			// ParseFrame keeps invalid UTF-8 as is; encoding/json turns each bad byte into U+FFFD.
			if !isObj || !typOK || typ != string([]rune(got.Type)) {
				t.Fatalf("ParseFrame(%q) accepted %+v; json says object=%v type=%q", data, got, isObj, typ)
			}
			line := AppendEnvelope(nil, "s", got.Type, messages.ViaWebSocket, time.Unix(0, 0), data)
			if !json.Valid(line) {
				t.Fatalf("envelope of %q is not JSON: %s", data, line)
			}
		} else if isObj && typOK && json.Valid(data) {
			t.Fatalf("ParseFrame(%q) rejected a valid frame: %s", data, got.Invalid)
		}
	})
}

// parseFrameReference is ParseFrame as it was before the single-pass scanner: json.Valid,
// then a second walk over the top-level members. The tests hold ParseFrame to it.
func parseFrameReference(data []byte, cursorField string) Frame {
	if !json.Valid(data) {
		return Frame{Invalid: messages.InvalidJSON}
	}
	s := refScanner{b: data}
	s.space()
	if !s.eat('{') {
		return Frame{Invalid: messages.InvalidObject}
	}
	var f Frame
	haveType := false
	for {
		s.space()
		if s.eat('}') {
			break
		}
		key := s.str()
		s.space()
		s.eat(':')
		s.space()
		start := s.i
		s.value()
		val := data[start:s.i]
		switch {
		case bytes.Equal(key, []byte("type")):
			if len(val) == 0 || val[0] != '"' {
				return Frame{Invalid: messages.InvalidType}
			}
			f.Type, haveType = refUnquote(val), true
		case cursorField != "" && string(key) == cursorField:
			if val[0] == '"' {
				f.Cursor = refUnquote(val)
			} else if val[0] == '-' || (val[0] >= '0' && val[0] <= '9') {
				f.Cursor = string(val)
			}
		}
		s.space()
		s.eat(',')
	}
	if !haveType {
		return Frame{Invalid: messages.InvalidType}
	}
	return f
}

// escapedTopKey reports whether data is a valid JSON object with an escape in a top-level key.
func escapedTopKey(data []byte) bool {
	if !json.Valid(data) {
		return false
	}
	s := refScanner{b: data}
	s.space()
	if !s.eat('{') {
		return false
	}
	for {
		s.space()
		if s.eat('}') {
			return false
		}
		if bytes.IndexByte(s.str(), '\\') >= 0 {
			return true
		}
		s.space()
		s.eat(':')
		s.space()
		s.value()
		s.space()
		s.eat(',')
	}
}

// refUnquote decodes a JSON string token that json.Valid already accepted.
func refUnquote(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	if s, err := strconv.Unquote(string(tok)); err == nil {
		return s
	}
	var s string
	_ = json.Unmarshal(tok, &s) // valid JSON string: cannot fail
	return s
}

// refScanner walks JSON that json.Valid has accepted, so it does not re-check syntax.
type refScanner struct {
	b []byte
	i int
}

func (s *refScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *refScanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string token and returns its raw contents (escapes left as written).
func (s *refScanner) str() []byte {
	start := s.i
	s.i++ // opening quote
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return s.b[start+1 : s.i-1]
		}
		s.i++
	}
	return s.b[start+1:]
}

// value consumes one value of any kind.
func (s *refScanner) value() {
	if s.i >= len(s.b) {
		return
	}
	switch s.b[s.i] {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return
				}
			}
			s.i++
		}
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}

func TestParseFrameTypesInterns(t *testing.T) {
	var types Types
	frame := []byte(`{"type":"processing_progress","seq":1}`)
	first := ParseFrameTypes(frame, "", &types)
	if allocs := testing.AllocsPerRun(100, func() { ParseFrameTypes(frame, "", &types) }); allocs != 0 {
		t.Errorf("a known type allocated %v times per frame, want 0", allocs)
	}
	if got := ParseFrameTypes(frame, "", &types); got != first || got.Type != "processing_progress" {
		t.Errorf("interned parse = %+v, want %+v", got, first)
	}
	escaped := ParseFrameTypes([]byte(`{"type":"a\u00e9"}`), "", &types)
	if escaped.Type != "aé" {
		t.Errorf("escaped type = %q, want aé", escaped.Type)
	}
	for i := 0; i < 2*maxTypes; i++ { // a feed inventing types does not grow the table
		ParseFrameTypes([]byte(`{"type":"t`+strconv.Itoa(i)+`"}`), "", &types)
	}
	if len(types.names) > maxTypes {
		t.Errorf("table holds %d names, want at most %d", len(types.names), maxTypes)
	}
	var big Types // huge names are parsed but never kept
	long := strings.Repeat("x", 1<<20)
	for i := range 3 {
		name := strconv.Itoa(i) + long
		if got := ParseFrameTypes([]byte(`{"type":"`+name+`"}`), "", &big); got.Type != name {
			t.Fatalf("a %d-byte type parsed as %d bytes", len(name), len(got.Type))
		}
	}
	held := 0
	for k := range big.names {
		held += len(k)
	}
	if held > maxTypeLen*maxTypes {
		t.Errorf("the table holds %d bytes of names after three 1 MiB types, want at most %d", held, maxTypeLen*maxTypes)
	}
}

// TestLongStringsAgreeWithJSONValid puts each kind of special byte at every position of
// string bodies long enough for the fast paths of scanString (8 bytes at a time, then
// skipLong), and checks that ParseFrame accepts exactly what json.Valid accepts.
func TestLongStringsAgreeWithJSONValid(t *testing.T) {
	specials := []string{`"`, `\\`, `\"`, `\u00e9`, `\x`, "\x00", "\x1f", "\n", "\x7f", "\xc3\xa9", "\xff"}
	for n := 1; n <= 90; n++ {
		for pos := 0; pos <= n; pos++ {
			for _, sp := range specials {
				body := strings.Repeat("x", pos) + sp + strings.Repeat("y", n-pos)
				for _, frame := range []string{`{"type":"` + body + `"}`, `{"type":"t","v":"` + body + `"}`, `{"type":"` + body} {
					got := ParseFrame([]byte(frame), "seq")
					if (got.Invalid == messages.InvalidJSON) == json.Valid([]byte(frame)) {
						t.Fatalf("ParseFrame(%q) = %+v, json.Valid = %v", frame, got, json.Valid([]byte(frame)))
					}
				}
			}
		}
	}
}
