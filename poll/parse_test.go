package poll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestParse(t *testing.T) {
	const a, b = `{"type":"a","n":1}`, `{"type":"b"}`
	for _, tt := range []struct {
		name  string
		shape string
		body  string
		want  []string // nil with wantErr
		err   bool     // wants ErrBody
	}{
		{"array", ShapeArray, "[" + a + "," + b + "]", []string{a, b}, false},
		{"empty array", ShapeArray, "[]", []string{}, false},
		{"envelope", ShapeEnvelope, `{"cursor":"9","events":[` + a + "," + b + "]}", []string{a, b}, false},
		{"envelope with null events", ShapeEnvelope, `{"events":null}`, nil, false},
		{"object", ShapeObject, a, []string{a}, false},
		{"object without type is still an event", ShapeObject, `{"x":1}`, []string{`{"x":1}`}, false},
		{"auto array", ShapeAuto, " [" + a + "]\n", []string{a}, false},
		{"auto envelope", ShapeAuto, `{"events":[` + b + `]}`, []string{b}, false},
		{"auto envelope null", ShapeAuto, `{"events":null,"next":1}`, nil, false},
		{"auto object", ShapeAuto, a, []string{a}, false},
		{"auto: type wins over an events field", ShapeAuto, `{"type":"t","events":[1]}`, []string{`{"type":"t","events":[1]}`}, false},
		{"auto object without type or events", ShapeAuto, `{"x":1}`, nil, true},
		{"auto events not an array", ShapeAuto, `{"events":{}}`, nil, true},
		{"auto scalar", ShapeAuto, `42`, nil, true},
		{"array shape given an object", ShapeArray, a, nil, true},
		{"array shape given null", ShapeArray, `null`, nil, true},
		{"envelope shape given an array", ShapeEnvelope, "[" + a + "]", nil, true},
		{"envelope without events", ShapeEnvelope, `{"data":[]}`, nil, true},
		{"envelope events not an array", ShapeEnvelope, `{"events":"x"}`, nil, true},
		{"object shape given an array", ShapeObject, "[" + a + "]", nil, true},
		{"object shape given null", ShapeObject, "null", nil, true},
		{"element not an object", ShapeArray, `[` + a + `,"x"]`, nil, true},
		{"envelope element not an object", ShapeEnvelope, `{"events":[1]}`, nil, true},
		{"not JSON", ShapeAuto, `<html>oops</html>`, nil, true},
		{"truncated", ShapeArray, `[` + a, nil, true},
		{"trailing garbage", ShapeObject, a + `x`, nil, true},
		{"empty", ShapeAuto, "  ", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.shape, []byte(tt.body))
			if tt.err {
				if !errors.Is(err, ErrBody) {
					t.Fatalf("Parse(%q, %q) error = %v, want ErrBody", tt.shape, tt.body, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.shape, tt.body, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Parse(%q, %q) = %q, want %q", tt.shape, tt.body, got, tt.want)
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("Parse(%q, %q)[%d] = %q, want %q", tt.shape, tt.body, i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseKeepsBytes(t *testing.T) {
	ev := `{ "type" : "a",  "n": 1.50e0, "s": "\u00e9" }`
	for _, shape := range []string{ShapeAuto, ShapeArray, ShapeEnvelope, ShapeObject} {
		body := map[string]string{
			ShapeAuto:     "[\n  " + ev + "\n]",
			ShapeArray:    "[" + ev + " ]",
			ShapeEnvelope: `{"events": [ ` + ev + ` ]}`,
			ShapeObject:   "\n" + ev + "\n",
		}[shape]
		got, err := Parse(shape, []byte(body))
		if err != nil || len(got) != 1 || string(got[0]) != ev {
			t.Errorf("Parse(%q, %q) = %q, %v, want [%q]", shape, body, got, err, ev)
		}
	}
}

func TestParseErrorsOmitBody(t *testing.T) {
	for _, body := range []string{`{"token":"s3cret"`, `"s3cret"`, `[{"a":1},"s3cret"]`, `{"events":"s3cret"}`} {
		_, err := Parse(ShapeAuto, []byte(body))
		if err == nil || bytes.Contains([]byte(err.Error()), []byte("s3cret")) {
			t.Errorf("Parse(%q) error = %v, want an error without the body", body, err)
		}
	}
}

func TestParseUnknownShape(t *testing.T) {
	if _, err := Parse("ndjson", []byte("{}")); err == nil || errors.Is(err, ErrBody) {
		t.Errorf("Parse(ndjson) error = %v, want a non-ErrBody error", err)
	}
}

func TestCursorOf(t *testing.T) {
	for _, tt := range []struct {
		event, field string
		want         string
		ok           bool
	}{
		{`{"seq":42}`, "seq", "42", true},
		{`{"seq":-1.5e3}`, "seq", "-1.5e3", true},
		{`{"seq":12345678901234567890123}`, "seq", "12345678901234567890123", true},
		{`{"id":"abc"}`, "id", "abc", true},
		{`{"id":"a\"b\u00e9"}`, "id", `a"bé`, true},
		{`{"nested":{"id":"x"}}`, "id", "", false},
		{`{"id":""}`, "id", "", false},
		{`{"id":null}`, "id", "", false},
		{`{"id":true}`, "id", "", false},
		{`{"id":{"a":1}}`, "id", "", false},
		{`{"id":[1]}`, "id", "", false},
		{`{"ID":"x"}`, "id", "", false},
		{`{"other":1}`, "id", "", false},
		{`[{"id":1}]`, "id", "", false},
		{`{"id":1`, "id", "", false},
		{``, "id", "", false},
	} {
		got, ok := CursorOf([]byte(tt.event), tt.field)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CursorOf(%q, %q) = %q, %v, want %q, %v", tt.event, tt.field, got, ok, tt.want, tt.ok)
		}
	}
}

func BenchmarkCursorOf(b *testing.B) {
	ev := []byte(`{"type":"trade","seq":123456,"symbol":"ABC","price":"12.5","qty":3,"meta":{"src":"x","tags":["a","b"]}}`)
	for b.Loop() {
		if _, ok := CursorOf(ev, "seq"); !ok {
			b.Fatal("no cursor")
		}
	}
}

// FuzzParse checks that Parse never panics and returns only JSON objects cut from the body.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`[{"type":"a"}]`, `{"events":[{"x":1}]}`, `{"type":"a"}`, `{"events":null}`, `[1]`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, shape := range []string{ShapeAuto, ShapeArray, ShapeEnvelope, ShapeObject} {
			events, err := Parse(shape, body)
			if err != nil {
				if !errors.Is(err, ErrBody) {
					t.Fatalf("Parse(%q): error %v is not ErrBody", shape, err)
				}
				continue
			}
			for i, ev := range events {
				if !json.Valid(ev) || ev[0] != '{' || !bytes.Contains(body, ev) {
					t.Fatalf("Parse(%q)[%d] = %q: not an object cut from the body", shape, i, ev)
				}
			}
		}
	})
}

// FuzzCursorOf checks that CursorOf never panics and agrees with a plain decode.
func FuzzCursorOf(f *testing.F) {
	f.Add([]byte(`{"seq":42}`), "seq")
	f.Add([]byte(`{"id":"a\"b"}`), "id")
	f.Add([]byte(`{"id":null,"x":[1,{"id":2}]}`), "id")
	f.Fuzz(func(t *testing.T, event []byte, field string) {
		got, ok := CursorOf(event, field)
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(event))
		d.UseNumber()
		want, wantOK := "", false
		if json.Valid(event) && d.Decode(&m) == nil {
			switch v := m[field].(type) {
			case string:
				want, wantOK = v, v != ""
			case json.Number:
				want, wantOK = v.String(), true
			}
		}
		if got != want || ok != wantOK {
			t.Fatalf("CursorOf(%q, %q) = %q, %v, want %q, %v", event, field, got, ok, want, wantOK)
		}
	})
}

func ExampleParse() {
	events, _ := Parse(ShapeAuto, []byte(`{"events":[{"type":"a","seq":1},{"type":"b","seq":2}]}`))
	for _, ev := range events {
		seq, _ := CursorOf(ev, "seq")
		fmt.Println(string(ev), seq)
	}
	// Output:
	// {"type":"a","seq":1} 1
	// {"type":"b","seq":2} 2
}
