package bench

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"

	"holdfast/messages"
)

// parseFrame is a prototype of messages.ParseFrame in one pass: it validates as validJSON
// does and picks the top-level "type" and cursor field on the way, instead of json.Valid
// followed by a second scan. It returns exactly what ParseFrame returns
// (TestParseFramePrototypeMatches).
func parseFrame(b []byte, cursorField string) messages.Frame {
	var (
		f                 messages.Frame
		haveType, badType bool
		key               []byte // the top-level key whose value comes next
		stack             []byte
	)
	const maxDepth = 10000
	i := skipSpace(b, 0)
	topObject := i < len(b) && b[i] == '{'
	for {
		if i >= len(b) {
			return messages.Frame{Invalid: messages.InvalidJSON}
		}
		start, ok := i, true
		switch c := b[i]; {
		case c == '{' || c == '[':
			j := skipSpace(b, i+1)
			if j < len(b) && (c == '{' && b[j] == '}' || c == '[' && b[j] == ']') {
				i = j + 1
				break
			}
			if len(stack) >= maxDepth {
				return messages.Frame{Invalid: messages.InvalidJSON}
			}
			stack = append(stack, c)
			i = j
			if c == '{' {
				k := i
				if i, ok = objectKey(b, i); !ok {
					return messages.Frame{Invalid: messages.InvalidJSON}
				}
				if len(stack) == 1 {
					key = keyAt(b, k)
				}
			}
			continue
		case c == '"':
			i, ok = scanString(b, i)
		case c == '-' || c >= '0' && c <= '9':
			i, ok = scanNumber(b, i)
		case c == 't':
			i, ok = literal(b, i, "true")
		case c == 'f':
			i, ok = literal(b, i, "false")
		case c == 'n':
			i, ok = literal(b, i, "null")
		default:
			return messages.Frame{Invalid: messages.InvalidJSON}
		}
		if !ok {
			return messages.Frame{Invalid: messages.InvalidJSON}
		}
		if len(stack) == 1 && stack[0] == '{' && key != nil { // a top-level value ends at i
			val := b[start:i]
			switch {
			case string(key) == "type":
				if val[0] != '"' {
					badType = true
				} else if !badType {
					f.Type, haveType = unquoteJSON(val), true
				}
			case cursorField != "" && string(key) == cursorField && !badType:
				if val[0] == '"' {
					f.Cursor = unquoteJSON(val)
				} else if val[0] == '-' || val[0] >= '0' && val[0] <= '9' {
					f.Cursor = string(val)
				}
			}
		}
		for {
			i = skipSpace(b, i)
			if len(stack) == 0 {
				switch {
				case i != len(b):
					return messages.Frame{Invalid: messages.InvalidJSON}
				case !topObject:
					return messages.Frame{Invalid: messages.InvalidObject}
				case badType || !haveType:
					return messages.Frame{Invalid: messages.InvalidType}
				}
				return f
			}
			if i >= len(b) {
				return messages.Frame{Invalid: messages.InvalidJSON}
			}
			top := stack[len(stack)-1]
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if top == '{' {
					k := i
					if i, ok = objectKey(b, i); !ok {
						return messages.Frame{Invalid: messages.InvalidJSON}
					}
					if len(stack) == 1 {
						key = keyAt(b, k)
					}
				}
				break
			}
			if top == '{' && b[i] == '}' || top == '[' && b[i] == ']' {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return messages.Frame{Invalid: messages.InvalidJSON}
		}
	}
}

// keyAt returns the raw contents of the valid string token at b[k] (escapes as written, as
// ParseFrame compares keys).
func keyAt(b []byte, k int) []byte {
	end, _ := scanString(b, k)
	return b[k+1 : end-1]
}

// unquoteJSON decodes a valid JSON string token, as messages' unquote does.
func unquoteJSON(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	for _, c := range inner {
		if c == '\\' {
			if s, err := strconv.Unquote(string(tok)); err == nil {
				return s
			}
			var s string
			_ = json.Unmarshal(tok, &s)
			return s
		}
	}
	return string(inner)
}

func TestParseFramePrototypeMatches(t *testing.T) {
	cases := []string{
		`{"type":"a"}`, `{"type":1}`, `{"type":"a","type":"b"}`, `{"type":"a","type":2}`, `{"type":2,"type":"a"}`,
		`{"seq":5,"type":"a"}`, `{"seq":"x\"y","type":"a"}`, `{"seq":true,"type":"a"}`, `{"seq":5,"seq":null,"type":"a"}`,
		`{"type":"a\u00e9"}`, `{"ty\u0070e":"a"}`, `{"x":{"type":"inner"},"type":"outer"}`, `{"x":{"type":"inner"}}`,
		`["type","a"]`, `"type"`, `{}`, `{"type":"a"`, ` {"type" : "a" , "seq" : -1.5e3 } `, `{"type":"a","seq":{"a":1}}`,
		`{"type":"a","x":[1,{"seq":9}],"seq":3}`, `{"type":"\n"}`, "{\"type\":\"a\x01\"}",
	}
	for _, c := range cases {
		if got, want := parseFrame([]byte(c), "seq"), messages.ParseFrame([]byte(c), "seq"); got != want {
			t.Errorf("parseFrame(%q) = %+v, ParseFrame says %+v", c, got, want)
		}
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte(`{}[]:,"\ -+.0123456789etypsqrufaln` + "\x00\x1f\xff")
	for _, size := range []int{0, 200} {
		base := frame(size)
		for range 10000 {
			b := append([]byte(nil), base...)
			for range 1 + rnd.IntN(3) {
				switch p := rnd.IntN(len(b)); rnd.IntN(3) {
				case 0:
					b[p] = alphabet[rnd.IntN(len(alphabet))]
				case 1:
					b = append(b[:p], b[p+1:]...)
				default:
					b = append(b[:p], append([]byte{alphabet[rnd.IntN(len(alphabet))]}, b[p:]...)...)
				}
			}
			for _, field := range []string{"", "seq"} {
				if got, want := parseFrame(b, field), messages.ParseFrame(b, field); got != want {
					t.Fatalf("parseFrame(%q, %q) = %+v, ParseFrame says %+v", b, field, got, want)
				}
			}
		}
	}
}

func BenchmarkParseFramePrototype(b *testing.B) {
	for _, n := range sizes {
		data := frame(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				parseFrame(data, "seq")
			}
		})
	}
}
