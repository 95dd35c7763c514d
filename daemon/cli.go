package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"holdfast/config"
	"holdfast/control"
)

// loadConfig loads and validates; every problem is a usage error (exit 2).
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

func cmdCheck(args []string, stdout, _ io.Writer) error {
	fs := flagSet("check")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path := configPath(fs)
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	if !flagBool(fs, "no-environment") {
		if err := checkEnvironment(path, cfg); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "# %s is valid: %d streams, %d sinks\n%s", path, len(cfg.Streams), len(cfg.Sinks), cfg.Redacted())
	return nil
}

// controlClient builds a client for the control API named in the config. The token is
// --token-file's, else $HOLDFAST_CONTROL_TOKEN, else what [control] names: an operator's
// shell has no $CREDENTIALS_DIRECTORY, so the service's LoadCredential= file is not found.
func controlClient(fs *flag.FlagSet) (*control.Client, error) {
	cfg, err := loadConfig(configPath(fs))
	if err != nil {
		return nil, err
	}
	var token config.Secret
	switch file := flagString(fs, "token-file"); {
	case file != "":
		if token, err = config.ReadToken("", file); err != nil {
			return nil, usageError{fmt.Errorf("--token-file: %w", err)}
		}
	case os.Getenv("HOLDFAST_CONTROL_TOKEN") != "":
		if token, err = config.ReadToken("HOLDFAST_CONTROL_TOKEN", ""); err != nil {
			return nil, usageError{err}
		}
	default:
		if token, err = controlToken(cfg.Control); err != nil {
			return nil, usageError{fmt.Errorf("%w (set HOLDFAST_CONTROL_TOKEN or --token-file)", err)}
		}
	}
	return control.NewClient(cfg.Control, token)
}

func controlToken(c config.ControlConfig) (config.Secret, error) {
	if c.TokenEnv == "" && c.TokenFile == "" {
		return "", nil
	}
	tok, err := config.ReadToken(c.TokenEnv, c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("control token: %w", err)
	}
	return tok, nil
}

func cmdStatus(args []string, stdout io.Writer) error {
	fs := flagSet("status")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	asJSON := flagBool(fs, "json")
	c, err := controlClient(fs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return control.RenderStatus(stdout, st)
}

func cmdSend(args []string, stdout io.Writer) error {
	fs := flagSet("send")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	stream := flagString(fs, "stream")
	if stream == "" {
		return usageError{errors.New("send: --stream is required")}
	}
	var body []byte
	ndjson := false
	if fs.NArg() > 0 {
		body = []byte(fs.Arg(0))
	} else {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		body, ndjson = b, true
	}
	c, err := controlClient(fs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Send(ctx, stream, body, ndjson)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "accepted %d, queue depth %d\n", res.Accepted, res.Depth)
	return nil
}

// checkEnvironment runs the config's environment checks; a problem is a usage error (exit 2),
// since restarting will not fix it.
func checkEnvironment(path string, cfg *config.Config) error {
	if err := cfg.CheckEnvironment(); err != nil {
		return usageError{fmt.Errorf("%s: the environment is not ready:\n%w", path, err)}
	}
	return nil
}
