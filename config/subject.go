package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// natsNameRE matches JetStream stream, bucket and instance names.
var natsNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// CheckSubjectTemplate reports what is wrong with a nats sink subject template: dot-separated
// tokens, each a literal of subject-safe characters or exactly {stream} or {type}.
func CheckSubjectTemplate(tmpl string) error {
	if tmpl == "" {
		return errors.New("is required, e.g. \"holdfast.{stream}.{type}\"")
	}
	for _, tok := range strings.Split(tmpl, ".") {
		switch {
		case tok == "{stream}" || tok == "{type}":
		case tok == "":
			return fmt.Errorf("%q has an empty token", tmpl)
		case strings.ContainsAny(tok, "{}*> \t\r\n"):
			return fmt.Errorf("%q: token %q must be a literal or exactly {stream} or {type}", tmpl, tok)
		}
	}
	return nil
}
