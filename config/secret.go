package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Secret is a credential. It prints as "[redacted]" through fmt (%s, %v, %#v),
// encoders and loggers; use string(s) only where the value is put on the wire.
type Secret string

const redacted = "[redacted]"

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// GoString returns "[redacted]", so %#v hides the value too.
func (Secret) GoString() string { return redacted }

// MarshalText returns "[redacted]", so JSON, TOML and zerolog's Interface hide the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// ErrNoToken means neither the environment variable nor the file gave a token.
var ErrNoToken = errors.New("no token")

// ReadToken returns the token from the environment variable named env when it is
// set and not blank, else from file, trimmed of surrounding whitespace. A relative
// file is looked up in $CREDENTIALS_DIRECTORY first when that is set (systemd
// LoadCredential=), then relative to the working directory. It reads at every call,
// so callers that call it at every connect pick up rotated tokens. Errors name the
// variable or file, never the value.
func ReadToken(env, file string) (Secret, error) {
	if env != "" {
		if v := strings.TrimSpace(os.Getenv(env)); v != "" {
			return Secret(v), nil
		}
	}
	if file == "" {
		if env == "" {
			return "", fmt.Errorf("read token: %w: neither token_env nor token_file is set", ErrNoToken)
		}
		return "", fmt.Errorf("read token: %w: environment variable %s is unset or empty", ErrNoToken, env)
	}
	path := file
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" && !filepath.IsAbs(file) {
		if p := filepath.Join(dir, file); fileExists(p) {
			path = p
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file %s: %w", path, unwrapPathError(err))
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return "", fmt.Errorf("read token file %s: %w: file is empty", path, ErrNoToken)
	}
	return Secret(v), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// unwrapPathError keeps the cause (fs.ErrNotExist stays matchable) without the path repeated.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
