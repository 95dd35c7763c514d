package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strconv"
)

// maxDepth is how deeply containers may nest: encoding/json's limit, so ParseFrame rejects
// exactly what json.Valid rejects. Real frames nest a handful of levels.
const maxDepth = 10000

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++ // the first test alone settles almost every call: compact JSON has no space
	}
	return i
}

// skipValue checks the JSON value at b[i] and returns the index just past it. Containers may
// nest limit levels, this value's own included: json.Valid's limit counts every level from
// the top. Open containers are kept on a stack that stays off the heap when shallow.
func skipValue(b []byte, i int, limit int) (int, bool) {
	var buf [64]byte
	stack := buf[:0] // open containers, '{' or '['
	for {
		// A value starts at i.
		if i >= len(b) {
			return i, false
		}
		ok := true
		switch c := b[i]; {
		case c == '{' || c == '[':
			if len(stack) == limit { // checked before the empty case: "[]" counts as a level too
				return i, false
			}
			j := skipSpace(b, i+1)
			if j < len(b) && (c == '{' && b[j] == '}' || c == '[' && b[j] == ']') {
				i = j + 1
				break // an empty container is a complete value
			}
			stack = append(stack, c)
			i = j
			if c == '{' {
				if _, i, ok = objectKey(b, i); !ok {
					return i, false
				}
			}
			continue
		case c == '"':
			i, ok = scanString(b, i)
		case c == '-' || '0' <= c && c <= '9':
			i, ok = scanNumber(b, i)
		case c == 't':
			i, ok = literal(b, i, "true")
		case c == 'f':
			i, ok = literal(b, i, "false")
		case c == 'n':
			i, ok = literal(b, i, "null")
		default:
			return i, false
		}
		if !ok {
			return i, false
		}
		// A value ended at i. Close containers (each one a value that ends too) until a comma
		// leads to the next value, or the outermost one closes.
		for {
			if len(stack) == 0 {
				return i, true
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			top := stack[len(stack)-1]
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if top == '{' {
					if _, i, ok = objectKey(b, i); !ok {
						return i, false
					}
				}
				break
			}
			if top == '{' && b[i] == '}' || top == '[' && b[i] == ']' {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return i, false
		}
	}
}

// objectKey reads a member's `"key" :` at b[i] and the space after it. It returns the key's
// raw contents (escapes as written) and the index where the value starts.
func objectKey(b []byte, i int) (key []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	end, ok := scanString(b, i)
	if !ok {
		return nil, end, false
	}
	key = b[i+1 : end-1]
	if end < len(b) && b[end] == ':' { // compact: no space to skip before the colon
		return key, skipSpace(b, end+1), true
	}
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return nil, i, false
	}
	return key, skipSpace(b, i+1), true
}

// special marks the bytes of w (8 bytes, little-endian) that are '"', '\\' or below 0x20
// with their high bit. It uses the classic word-at-a-time "has zero byte" and "has byte less
// than" tests: a borrow can mark a byte above a true match too, but never one below it, so
// the lowest mark is exactly the first special byte, and 0 means there is none.
func special(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := w^(ones*'"'), w^(ones*'\\')
	return ((quote-ones)&^quote | (backslash-ones)&^backslash | (w-ones*0x20)&^w) & highs
}

// scanString checks the string token at b[i] (which is '"') and returns the index just past
// its closing quote. Like json.Valid it accepts any byte of 0x20 and above, including invalid
// UTF-8 and lone surrogate escapes.
func scanString(b []byte, i int) (int, bool) {
	i++ // opening quote
	for {
		// Skip string bodies 8 bytes at a time, landing on the first special byte; past 32
		// bytes, hand a long body to skipLong.
		for words := 0; i+8 <= len(b); words++ {
			if words == 4 {
				if i = skipLong(b, i); i >= len(b) {
					return i, false
				}
				goto found
			}
			if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				goto found
			}
			i += 8
		}
		for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return i, false
		}
	found:
		if b[i] == '"' { // the usual end, tested ahead of the rest
			return i + 1, true
		}
		switch b[i] {
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
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
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

// skipLong returns the index of the first '"', '\\' or control character at or after i in a
// string body, or len(b). The quote and the backslash are found by bytes.IndexByte, which is
// vectorized; only the control characters before them take a word-at-a-time pass, which is a
// third of special's work.
func skipLong(b []byte, i int) int {
	end := len(b)
	if q := bytes.IndexByte(b[i:], '"'); q >= 0 {
		end = i + q
	}
	if bs := bytes.IndexByte(b[i:end], '\\'); bs >= 0 {
		end = i + bs
	}
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ctl := func(w uint64) uint64 { return (w - ones*0x20) &^ w & highs }
	for ; i+32 <= end; i += 32 { // four words per test: control characters are rare
		if ctl(binary.LittleEndian.Uint64(b[i:]))|ctl(binary.LittleEndian.Uint64(b[i+8:]))|
			ctl(binary.LittleEndian.Uint64(b[i+16:]))|ctl(binary.LittleEndian.Uint64(b[i+24:])) != 0 {
			break // the word loop below finds which
		}
	}
	for ; i+8 <= end; i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if m := (w - ones*0x20) &^ w & highs; m != 0 { // lowest mark exact, as in special
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < end; i++ {
		if b[i] < 0x20 {
			return i
		}
	}
	return end
}

// scanNumber checks the number token at b[i] (a '-' or a digit) and returns the index just
// past it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		j := i
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
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
	ok := true
	if b[i] == '0' {
		i++ // no leading zeros: whatever follows "0" must end the integer part
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

// literal checks for true, false or null at b[i] and returns the index just past it.
func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// unquote decodes a string token that scanString accepted. strconv.Unquote covers most
// escapes; json.Unmarshal handles the rest (`\/`, surrogate pairs).
func unquote(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	if s, err := strconv.Unquote(string(tok)); err == nil {
		return s
	}
	var s string
	_ = json.Unmarshal(tok, &s) // a valid JSON string: cannot fail
	return s
}
