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

// flags parses args, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Errorf("%s: %w", fs.Name(), err)}
	}
	return nil
}

// loadConfig loads and validates; every problem is a usage error (exit 2).
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

func cmdCheck(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	path := fs.String("config", "config.toml", "config file")
	noEnv := fs.Bool("no-environment", false, "check the file only, not the directories, commands, tokens and certificates it names")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if !*noEnv {
		if err := checkEnvironment(*path, cfg); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "# %s is valid: %d streams, %d sinks\n%s", *path, len(cfg.Streams), len(cfg.Sinks), cfg.Redacted())
	return nil
}

// controlClient builds a client for the control API named in the config.
func controlClient(path string) (*control.Client, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	token, err := controlToken(cfg.Control)
	if err != nil {
		return nil, err
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
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	path := fs.String("config", "config.toml", "config file")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := controlClient(*path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return control.RenderStatus(stdout, st)
}

func cmdSend(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	path := fs.String("config", "config.toml", "config file")
	stream := fs.String("stream", "", "stream name")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *stream == "" {
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
	c, err := controlClient(*path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Send(ctx, *stream, body, ndjson)
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
