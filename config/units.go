package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// UnmarshalText parses a Go duration such as "20s", "1m30s" or "100ms". A bare
// number other than 0 is rejected: without a unit it would mean nanoseconds.
func (d *Duration) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if strings.HasPrefix(s, "-") {
		return fmt.Errorf("duration %q is negative", s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return fmt.Errorf("duration %q needs a unit (e.g. \"20s\", \"100ms\")", s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. \"20s\", \"1m30s\", \"100ms\")", s)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as time.Duration.String does ("1m30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Byte multiples accepted by Size. Decimal units are powers of 1000, binary units of 1024.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
	KB  Size = 1e3
	MB  Size = 1e6
	GB  Size = 1e9
	TB  Size = 1e12
)

var errSizeSyntax = errors.New(`use an integer with an optional unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. "512KiB")`)

// sizeUnits is ordered so that MarshalText picks the largest exact unit, binary first.
var sizeUnits = []struct {
	name string
	mult Size
}{
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB}, {"B", 1},
}

// UnmarshalText parses "1MiB", "512KiB", "10MB", "100B" or a bare byte count.
// Units are case-insensitive; TOML integers arrive here as their decimal text.
func (s *Size) UnmarshalText(text []byte) error {
	str := strings.TrimSpace(string(text))
	if strings.HasPrefix(str, "-") {
		return fmt.Errorf("size %q is negative", str)
	}
	i := strings.IndexFunc(str, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := str, ""
	if i >= 0 {
		num, unit = str[:i], strings.TrimSpace(str[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		if num != "" && errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("size %q is too large", str)
		}
		return fmt.Errorf("invalid size %q: %w", str, errSizeSyntax)
	}
	mult := Size(1)
	if unit != "" {
		found := false
		for _, u := range sizeUnits {
			if strings.EqualFold(unit, u.name) {
				mult, found = u.mult, true
				break
			}
		}
		if !found {
			return fmt.Errorf("invalid size %q: %w", str, errSizeSyntax)
		}
	}
	if Size(n) > Size(math.MaxInt64)/mult {
		return fmt.Errorf("size %q is too large", str)
	}
	*s = Size(n) * mult
	return nil
}

// MarshalText writes the size with the largest unit that divides it exactly ("16MiB", "100B").
func (s Size) MarshalText() ([]byte, error) {
	if s == 0 {
		return []byte("0B"), nil
	}
	for _, u := range sizeUnits {
		if s%u.mult == 0 {
			return []byte(strconv.FormatInt(int64(s/u.mult), 10) + u.name), nil
		}
	}
	return []byte(strconv.FormatInt(int64(s), 10) + "B"), nil // unreachable: B divides everything
}

// String is the MarshalText form, for logs and error messages.
func (s Size) String() string {
	b, _ := s.MarshalText()
	return string(b)
}
