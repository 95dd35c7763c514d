package config

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Error is one problem in a configuration. Parse, and Load once the file is read,
// return a single *Error or several joined with errors.Join (in line order); find
// them with errors.As. Validate returns them without File, Line and Col.
type Error struct {
	File string // as given to Parse; "" for a Config validated on its own
	Key  string // e.g. `stream "processing" route[0].sinks`, or "stream[0].reconect"
	Line int    // 1-based; 0 when unknown
	Col  int    // 1-based; 0 when unknown
	Msg  string

	path string // indexed TOML path (stream[0].route[0].sinks) used to find Line
}

// Error formats as "file:line:col: key: msg", leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	loc := e.File
	if e.Line > 0 {
		if loc == "" {
			loc = "line"
		}
		loc += ":" + strconv.Itoa(e.Line)
		if e.Col > 0 {
			loc += ":" + strconv.Itoa(e.Col)
		}
	}
	if loc != "" {
		b.WriteString(loc + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, decodes and validates the file at path. See Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes data over the defaults and validates the result. name labels the
// errors (usually the file path). Every element of [[sink]] and [[stream]] starts
// from DefaultSinkConfig/DefaultStreamConfig, and [stream.fallback] from
// DefaultFallbackConfig, so a key that is written, even as 0 or "", keeps its
// value: `max_attempts = 0` means "never give up", not "use the default".
// Unknown keys, syntax and type errors, and every Validate problem come back as
// *Error values, joined.
func Parse(data []byte, name string) (*Config, error) {
	p := &parser{name: name, src: string(data)}
	cfg, md, err := p.decode()
	if err != nil {
		return nil, err
	}
	p.ix = scanPositions(p.src)
	errs := p.unknownKeys(md)
	if err := cfg.Validate(); err != nil {
		errs = append(errs, p.annotate(err)...)
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, byLine) // read top to bottom, unplaced ones last
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

func byLine(a, b error) int {
	line := func(err error) int {
		var e *Error
		if errors.As(err, &e) && e.Line > 0 {
			return e.Line
		}
		return math.MaxInt
	}
	return cmp.Compare(line(a), line(b))
}

type parser struct {
	name string
	src  string
	ix   *index // nil until the text is known to parse
}

// rawConfig holds the arrays of tables back as primitives, so each element is
// decoded over its own defaults and a decode error knows which element it is in.
type rawConfig struct {
	Daemon  DaemonConfig     `toml:"daemon"`
	Control ControlConfig    `toml:"control"`
	Sinks   []toml.Primitive `toml:"sink"`
	Streams []toml.Primitive `toml:"stream"`
	Cluster toml.Primitive   `toml:"cluster"`
}

func (p *parser) decode() (*Config, toml.MetaData, error) {
	def := DefaultConfig()
	raw := rawConfig{Daemon: def.Daemon, Control: def.Control}
	md, err := toml.Decode(p.src, &raw)
	if err != nil {
		return nil, md, p.decodeErr(md, err, "")
	}
	cfg := &Config{Daemon: raw.Daemon, Control: raw.Control}
	for i, prim := range raw.Sinks {
		s := DefaultSinkConfig()
		if err := md.PrimitiveDecode(prim, &s); err != nil {
			return nil, md, p.decodeErr(md, err, "sink["+strconv.Itoa(i)+"]")
		}
		var probe struct {
			Timeout *Duration `toml:"timeout"`
		}
		if err := md.PrimitiveDecode(prim, &probe); err == nil && probe.Timeout == nil {
			switch s.Kind {
			case "exec":
				s.Timeout = Duration{DefaultExecTimeout}
			case "webhook":
				s.Timeout = Duration{DefaultWebhookTimeout}
			case "nats":
				s.Timeout = Duration{DefaultNATSTimeout}
			}
		}
		cfg.Sinks = append(cfg.Sinks, s)
	}
	for i, prim := range raw.Streams {
		s := DefaultStreamConfig()
		var probe struct {
			Fallback *struct{} `toml:"fallback"`
		}
		// A type error here shows up again, placed, in the real decode below.
		if err := md.PrimitiveDecode(prim, &probe); err == nil && probe.Fallback != nil {
			fb := DefaultFallbackConfig()
			s.Fallback = &fb
		}
		if err := md.PrimitiveDecode(prim, &s); err != nil {
			return nil, md, p.decodeErr(md, err, "stream["+strconv.Itoa(i)+"]")
		}
		cfg.Streams = append(cfg.Streams, s)
	}
	if md.IsDefined("cluster") {
		c := DefaultClusterConfig()
		if err := md.PrimitiveDecode(raw.Cluster, &c); err != nil {
			return nil, md, p.decodeErr(md, err, "cluster")
		}
		cfg.Cluster = &c
	}
	return cfg, md, nil
}

// lastKeyRE picks apart the errors toml v1.6.0 builds with fmt (type mismatches).
var lastKeyRE = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)

// decodeErr turns a toml error into an *Error placed at the offending key. elem is
// the indexed array element being decoded ("stream[1]"), or "" at the top level.
func (p *parser) decodeErr(md toml.MetaData, err error, elem string) error {
	e := &Error{File: p.name, Msg: err.Error()}
	var lastKey string
	var tomlPos toml.Position // where toml says; for a repeated key, its last occurrence
	var pe toml.ParseError
	switch {
	case errors.As(err, &pe):
		e.Msg, lastKey, tomlPos = pe.Message, pe.LastKey, pe.Position
		if len(md.Keys()) == 0 { // a syntax error: the lexer's position is exact
			e.Key, e.Line, e.Col = lastKey, pe.Position.Line, pe.Position.Col
			return e
		}
	default:
		if m := lastKeyRE.FindStringSubmatch(err.Error()); m != nil {
			lastKey, _ = strconv.Unquote(m[2])
			tomlPos.Line, _ = strconv.Atoi(m[1]) // no "line N" part: 0, unknown
			e.Msg = m[3]
		}
	}
	e.Msg = strings.TrimPrefix(e.Msg, "toml: ")
	if strings.Contains(e.Msg, "destination has type slice") && strings.Contains(e.Msg, "map[string]any") {
		e.Msg += fmt.Sprintf(" (write [[%s]] for each entry)", lastKey)
	}
	parts, _, ok := parseKey(lastKey)
	if !ok {
		e.Key = lastKey
		return e
	}
	e.Key = toml.Key(parts).String()
	if elem != "" {
		e.Key = joinPath(elem, parts[1:]...)
	}
	// Place it at the key, or at the nearest ancestor that the scan can pin down.
	ix := scanPositions(p.src)
	for k := toml.Key(parts); len(k) > 0; k = k[:len(k)-1] {
		if m := ix.matches(k, elem); len(m) == 1 {
			if len(k) == len(parts) {
				e.Key = m[0].path
			}
			e.Line, e.Col = m[0].line, m[0].vcol
			break
		} else if len(m) > 1 {
			break // several candidates; a wrong line would mislead
		}
	}
	if e.Line == 0 && tomlPos.Line > 0 && occurrences(md, lastKey) == 1 {
		e.Line, e.Col = tomlPos.Line, tomlPos.Col // e.g. inside an inline array of tables
	}
	return e
}

func occurrences(md toml.MetaData, key string) int {
	n := 0
	for _, k := range md.Keys() {
		if k.String() == key {
			n++
		}
	}
	return n
}

// unknownKeys reports every key that names no field (TOML keys are case-sensitive,
// so a key that only matches case-insensitively is reported too), once per place it
// is written, at its shortest unknown prefix.
func (p *parser) unknownKeys(md toml.MetaData) []error {
	undecoded := map[string]bool{}
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	var errs []error
	seen := map[string]bool{}
	fields := map[reflect.Type]map[string]reflect.Type{} // memo for unknownAt
	for _, k := range md.Keys() {
		bad, hint := unknownAt(reflect.TypeFor[Config](), k, fields)
		if bad < 0 {
			continue
		}
		key := k[:bad+1]
		if seen[key.String()] {
			continue
		}
		seen[key.String()] = true
		msg := "unknown key"
		if hint != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", hint)
		}
		at := p.ix.matches(key, "")
		if len(at) == 0 { // inside an inline table: point at the enclosing key if it is unique
			e := &Error{File: p.name, Key: key.String(), Msg: msg}
			for k := key[:len(key)-1]; len(k) > 0; k = k[:len(k)-1] {
				if m := p.ix.matches(k, ""); len(m) > 0 {
					if len(m) == 1 {
						e.Key = joinPath(m[0].path, key[len(k):]...)
						e.Line, e.Col = m[0].line, m[0].col
					}
					break
				}
			}
			errs = append(errs, e)
		}
		for _, e := range at {
			errs = append(errs, &Error{File: p.name, Key: e.path, Line: e.line, Col: e.col, Msg: msg})
		}
	}
	return errs
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// unknownAt walks key through t's toml tags and returns the index of the first part
// that names no field (-1 when all do) and the field it was probably meant to be.
// Maps and interfaces accept any key below them. memo caches each struct's keys.
func unknownAt(t reflect.Type, key toml.Key, memo map[reflect.Type]map[string]reflect.Type) (int, string) {
	for i, k := range key {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if reflect.PointerTo(t).Implements(textUnmarshalerType) {
			return i, "" // a scalar has no keys below it
		}
		switch t.Kind() {
		case reflect.Map, reflect.Interface:
			return -1, ""
		case reflect.Struct:
			names, ok := memo[t]
			if !ok {
				names = map[string]reflect.Type{}
				tomlFields(t, names)
				memo[t] = names
			}
			ft, ok := names[k]
			if !ok {
				return i, closest(k, names)
			}
			t = ft
		default:
			return i, ""
		}
	}
	return -1, ""
}

// tomlFields lists the keys of struct t, flattening untagged embedded structs as toml does.
func tomlFields(t reflect.Type, into map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		switch {
		case tag == "-" || !f.IsExported():
		case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
			tomlFields(f.Type, into)
		case tag == "":
			into[f.Name] = f.Type
		default:
			into[tag] = f.Type
		}
	}
}

// closest returns the field name a small edit away from k (or equal ignoring case), if any.
func closest(k string, names map[string]reflect.Type) string {
	best, bestD := "", min(2, max(1, len(k)/3))+1
	for n := range names {
		d := editDistance(strings.ToLower(k), strings.ToLower(n))
		if d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// annotate places validation errors with the positions of their keys.
func (p *parser) annotate(err error) []error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var ce *Error
		if errors.As(e, &ce) {
			ce.File = p.name
			if at, ok := p.ix.lookup(ce.path); ok {
				ce.Line, ce.Col = at.line, at.col
			}
		}
	}
	return errs
}
