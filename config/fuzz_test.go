package config

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, and that what it reports is always
// *Error values and what it accepts can be printed by Redacted.
func FuzzParse(f *testing.F) {
	f.Add([]byte(baseTOML))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				var ce *Error
				if !errors.As(e, &ce) {
					t.Fatalf("Parse error %T %v is not an *Error", e, e)
				}
			}
			return
		}
		_ = c.Redacted()
	})
}
