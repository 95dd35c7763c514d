package bench

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
)

// validJSON is a prototype of a faster json.Valid for messages.ParseFrame (see BENCHMARKS.md,
// "Hot path"): one pass, no per-byte state function calls, and a table-driven inner loop for
// string bodies, which is where padded events spend their bytes. It accepts exactly what
// json.Valid accepts (TestValidJSONMatchesStdlib); like json.Valid it does not check UTF-8.
func validJSON(b []byte) bool {
	const maxDepth = 10000 // encoding/json's nesting limit
	var stack []byte       // open containers: '{' or '['
	i := skipSpace(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return false
		}
		ok := true
		switch c := b[i]; {
		case c == '{' || c == '[':
			j := skipSpace(b, i+1)
			if j < len(b) && (c == '{' && b[j] == '}' || c == '[' && b[j] == ']') {
				i = j + 1
				break
			}
			if len(stack) >= maxDepth {
				return false
			}
			stack = append(stack, c)
			i = j
			if c == '{' {
				if i, ok = objectKey(b, i); !ok {
					return false
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
			return false
		}
		if !ok {
			return false
		}
		// After a value: close containers, or find the next value.
		for {
			i = skipSpace(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := stack[len(stack)-1]
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if top == '{' {
					if i, ok = objectKey(b, i); !ok {
						return false
					}
				}
				break
			}
			if top == '{' && b[i] == '}' || top == '[' && b[i] == ']' {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return false
		}
	}
}

// objectKey reads `"key" :` and the space after it.
func objectKey(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	i, ok := scanString(b, i)
	if !ok {
		return i, false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return skipSpace(b, i+1), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plain marks the bytes a string body holds without a check: not '"', '\\' or a control char.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// special reports whether any of the 8 bytes of w is '"', '\\' or below 0x20 (SWAR: the
// classic has-zero-byte and has-less-than tests, exact for "any").
func special(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := w^(ones*'"'), w^(ones*'\\')
	return ((quote-ones)&^quote|(backslash-ones)&^backslash|(w-ones*0x20)&^w)&highs != 0
}

func scanString(b []byte, i int) (int, bool) {
	i++ // opening quote
	for {
		for i+8 <= len(b) && !special(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, false
				}
				for _, h := range b[i+2 : i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return i, false
					}
				}
				i += 6
			default:
				return i, false
			}
		default: // a control character
			return i, false
		}
	}
}

func scanNumber(b []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j, j > i
	}
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	var ok bool
	if b[i] == '0' {
		i++
	} else if i, ok = digits(i); !ok {
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// TestValidJSONMatchesStdlib compares the prototype with json.Valid on hand-picked inputs and
// on 20,000 random mutations of real frames.
func TestValidJSONMatchesStdlib(t *testing.T) {
	cases := []string{
		``, ` `, `{}`, `[]`, `{ }`, `[ ]`, `{"a":1}`, `{"a":1,}`, `{"a" : [1, 2.5e-3, -0, true, false, null, "x"]}`,
		`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":1e+}`, `{"a":1E+9}`, `{"a":"\u00e9\n\"\\\/"}`,
		`{"a":"\u00g9"}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", `{"a":tru}`, `{"a":nulls}`, `{a:1}`,
		`{"a":1}}`, `[[[]]]`, `[[[]]`, `"str"`, `12`, ` 12 `, `{"a":{"b":{"c":[{}]}}}`, `{"a":1 "b":2}`, `[1,]`, `[,1]`,
		`{"a":[1,{"b":2},[3]]}`, "\t{\n\"a\"\r:\t1\n}\n", `{"":""}`, `{"a":"b"`, `{"a"`, `{"a":`, `[`, `]`, `{"a":1]`, `[1}`,
	}
	for _, c := range cases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]:,"\ -+.0123456789eEtrufalsn` + "\x00\x1f\x7f\xff")
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
			if got, want := validJSON(b), json.Valid(b); got != want {
				t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
			}
		}
	}
}

func BenchmarkValidJSONPrototype(b *testing.B) {
	for _, n := range sizes {
		data := frame(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if !validJSON(data) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
