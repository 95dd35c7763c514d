package config

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// BurntSushi/toml keeps one position per key string ("stream.reconnect.jitter"), which
// is the last [[stream]]'s, and does not export it. The text has already parsed when
// these helpers run, so a line scan that follows table headers, keys, strings and
// brackets is enough to find every element's keys. A position is only a hint for the
// message: when the scan cannot place a key, the error simply has no line.

// entry is where one key or table header appears.
type entry struct {
	path  string   // indexed: stream[1].reconnect.jitter
	plain toml.Key // without indices, as MetaData spells it
	line  int
	col   int // of the key
	vcol  int // of the value; col for headers
}

// index maps indexed paths to entries, in document order.
type index struct {
	byPath map[string]entry
	all    []entry
}

func (ix *index) add(e entry) {
	if _, dup := ix.byPath[e.path]; dup {
		return // a dotted key implies its tables; the first mention wins
	}
	ix.byPath[e.path] = e
	ix.all = append(ix.all, e)
}

// lookup returns the entry of path or of its nearest ancestor that appears in the text.
func (ix *index) lookup(path string) (entry, bool) {
	for path != "" {
		if e, ok := ix.byPath[path]; ok {
			return e, true
		}
		path = parentPath(path)
	}
	return entry{}, false
}

// matches returns the entries spelled plain, restricted to those under within (an
// indexed path) when within is not empty.
func (ix *index) matches(plain toml.Key, within string) []entry {
	want := plain.String()
	var out []entry
	for _, e := range ix.all {
		if e.plain.String() != want {
			continue
		}
		if within == "" || e.path == within || strings.HasPrefix(e.path, within+".") {
			out = append(out, e)
		}
	}
	return out
}

// parentPath drops the last ".key" or "[n]" of an indexed path built by Validate.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

func joinPath(base string, parts ...string) string {
	for _, p := range parts {
		if base != "" {
			base += "."
		}
		base += toml.Key{p}.String()
	}
	return base
}

// scanPositions indexes the keys and headers of a document that toml has parsed.
func scanPositions(src string) *index {
	ix := &index{byPath: map[string]entry{}}
	arrays := map[string]int{} // indexed path of an array of tables -> elements so far
	var table string           // indexed path of the current table
	var tablePlain toml.Key
	var lx lexState
	for n, line := range strings.Split(src, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if lx.open() {
			lx.scan(line)
			continue
		}
		body := strings.TrimLeft(line, " \t")
		col := len(line) - len(body) + 1
		switch {
		case body == "" || body[0] == '#':
		case body[0] == '[':
			isArray := strings.HasPrefix(body, "[[")
			rest := body[1:]
			if isArray {
				rest = body[2:]
			}
			parts, _, ok := parseKey(rest)
			if !ok {
				continue
			}
			table, tablePlain = "", nil
			for i, p := range parts {
				table = joinPath(table, p)
				tablePlain = append(tablePlain, p)
				last := i == len(parts)-1
				if count, isArr := arrays[table]; isArr && !last {
					table += "[" + strconv.Itoa(count-1) + "]" // the element being filled
				} else if last && isArray {
					arrays[table] = count + 1
					table += "[" + strconv.Itoa(count) + "]"
				}
			}
			ix.add(entry{path: table, plain: append(toml.Key(nil), tablePlain...), line: n + 1, col: col, vcol: col})
		default:
			parts, rest, ok := parseKey(body)
			if !ok || !strings.HasPrefix(rest, "=") {
				continue
			}
			value := strings.TrimLeft(rest[1:], " \t")
			vcol := len(line) - len(value) + 1
			path, plain := table, append(toml.Key(nil), tablePlain...)
			for _, p := range parts {
				path, plain = joinPath(path, p), append(plain, p)
				ix.add(entry{path: path, plain: append(toml.Key(nil), plain...), line: n + 1, col: col, vcol: vcol})
			}
			lx.scan(value)
		}
	}
	return ix
}

// parseKey reads a dotted key (bare, "basic" or 'literal' parts) and returns the rest.
func parseKey(s string) (parts []string, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return nil, "", false
		}
		var part string
		switch s[0] {
		case '"':
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return nil, "", false
			}
			part = s[1:end]
			if u, err := strconv.Unquote(s[:end+1]); err == nil {
				part = u
			}
			s = s[end+1:]
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, "", false
			}
			part, s = s[1:1+end], s[2+end:]
		default:
			end := strings.IndexFunc(s, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
			})
			if end == 0 {
				return nil, "", false
			}
			if end < 0 {
				end = len(s)
			}
			part, s = s[:end], s[end:]
		}
		parts = append(parts, part)
		s = strings.TrimLeft(s, " \t")
		if !strings.HasPrefix(s, ".") {
			return parts, s, true
		}
		s = s[1:]
	}
}

// lexState carries what a value leaves open at the end of a line.
type lexState struct {
	quote string // `"""` or `'''` while inside a multi-line string
	depth int    // open [ and {
}

func (lx *lexState) open() bool { return lx.quote != "" || lx.depth > 0 }

// scan advances over one line of value text.
func (lx *lexState) scan(s string) {
	for i := 0; i < len(s); {
		if lx.quote != "" {
			j := closing(s[i:], lx.quote)
			if j < 0 {
				return
			}
			i += j + len(lx.quote)
			lx.quote = ""
			continue
		}
		switch c := s[i]; c {
		case '#':
			return
		case '[', '{':
			lx.depth++
		case ']', '}':
			if lx.depth > 0 {
				lx.depth--
			}
		case '"', '\'':
			if q := strings.Repeat(string(c), 3); strings.HasPrefix(s[i:], q) {
				lx.quote = q
				i += 3
				continue
			}
			j := closing(s[i+1:], string(c))
			if j < 0 {
				return // unterminated: toml would have refused it
			}
			i += j + 2
			continue
		}
		i++
	}
}

// closing finds q in s, skipping backslash escapes inside basic strings.
func closing(s, q string) int {
	for i := 0; i < len(s); i++ {
		if q[0] == '"' && s[i] == '\\' {
			i++
			continue
		}
		if strings.HasPrefix(s[i:], q) {
			return i
		}
	}
	return -1
}
