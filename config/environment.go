package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CheckEnvironment checks what Validate cannot see in the file alone but what would fail at
// run time: state_dir can be created and written, every file sink's directory exists and
// is writable, every exec command is present and executable, every token_env is set and
// every token_file readable, and every CA, certificate and key file loads. It returns one
// error naming every problem, each with the key that leads to it, or nil.
func (c *Config) CheckEnvironment() error {
	var probs []string
	add := func(key, format string, args ...any) {
		probs = append(probs, key+": "+fmt.Sprintf(format, args...))
	}
	if err := writableDir(c.Daemon.StateDir, true); err != nil {
		add("daemon.state_dir", "%v", err)
	}
	if c.Control.TokenEnv != "" || c.Control.TokenFile != "" {
		token(add, "control", c.Control.TokenEnv, c.Control.TokenFile)
	}
	for _, s := range c.Sinks {
		key := fmt.Sprintf("sink %q", s.Name)
		switch s.Kind {
		case "file":
			if err := writableDir(filepath.Dir(s.Path), false); err != nil {
				add(key+" path", "%v", err)
			}
		case "exec":
			if len(s.Command) > 0 {
				if err := executable(s.Command[0]); err != nil {
					add(key+" command", "%v", err)
				}
			}
		case "webhook", "nats":
			if s.TokenEnv != "" || s.TokenFile != "" {
				token(add, key, s.TokenEnv, s.TokenFile)
			}
			tlsFiles(add, key+" tls", s.TLS)
			natsFiles(add, key, s.NATSConnConfig)
		}
	}
	for _, s := range c.Streams {
		key := fmt.Sprintf("stream %q", s.Name)
		if s.Auth.Mode.SendsToken() {
			token(add, key+" auth", s.Auth.TokenEnv, s.Auth.TokenFile)
		}
		tlsFiles(add, key+" tls", s.TLS)
	}
	if cl := c.Cluster; cl != nil {
		natsFiles(add, "cluster", cl.NATSConnConfig)
		if cl.TokenEnv != "" || cl.TokenFile != "" {
			token(add, "cluster", cl.TokenEnv, cl.TokenFile)
		}
		tlsFiles(add, "cluster tls", cl.TLS)
	}
	if len(probs) == 0 {
		return nil
	}
	return errors.New(strings.Join(probs, "\n"))
}

// token checks that the token a section names can be read now; the message never holds it.
func token(add func(key, format string, args ...any), key, env, file string) {
	if _, err := ReadToken(env, file); err != nil {
		add(key+" token", "%v", err)
	}
}

func tlsFiles(add func(key, format string, args ...any), key string, t TLSConfig) {
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		switch {
		case err != nil:
			add(key+".ca_file", "%s: %v", t.CAFile, unwrapPathError(err))
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			add(key+".ca_file", "%s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" || t.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			add(key+".cert_file", "load %s and %s: %v", t.CertFile, t.KeyFile, unwrapPathError(err))
		}
	}
}

func natsFiles(add func(key, format string, args ...any), key string, n NATSConnConfig) {
	for _, kf := range [][2]string{{"creds_file", n.CredsFile}, {"nkey_file", n.NKeyFile}} {
		k, f := kf[0], kf[1]
		if f == "" {
			continue
		}
		if fh, err := os.Open(f); err != nil {
			add(key+" "+k, "%s: %v", f, unwrapPathError(err))
		} else {
			_ = fh.Close()
		}
	}
}

// writableDir checks that dir is a directory this process can create files in. With
// creatable, a dir that does not exist yet passes when its nearest existing parent is a
// writable directory (the daemon creates it); nothing is created.
func writableDir(dir string, creatable bool) error {
	if dir == "" {
		dir = "."
	}
	if creatable {
		for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
			_, err := os.Lstat(p)
			if err == nil {
				if p != filepath.Clean(dir) {
					if err := writableDir(p, false); err != nil {
						return fmt.Errorf("create %s: %w", dir, err)
					}
					return nil
				}
				break
			}
			if !errors.Is(err, os.ErrNotExist) || p == filepath.Dir(p) {
				return fmt.Errorf("create %s: %w", dir, unwrapPathError(err))
			}
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".holdfast-check-")
	if err != nil {
		return fmt.Errorf("directory %s is not writable: %w", dir, unwrapPathError(err))
	}
	name := f.Name()
	_ = f.Close()
	_ = os.Remove(name)
	return nil
}

// executable checks that command (a path, or a name looked up in PATH) can be run.
func executable(command string) error {
	path, err := exec.LookPath(command)
	if err != nil {
		var ee *exec.Error
		if errors.As(err, &ee) {
			err = ee.Err
		}
		return fmt.Errorf("%s: %w", command, unwrapPathError(err))
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", command, unwrapPathError(err))
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", command)
	}
	return nil
}
