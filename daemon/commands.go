package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// command is one subcommand. Its flags are defined in one place, here; the command itself,
// --help, shell completion and the man page all read them from flagSet.
type command struct {
	name    string
	args    string // positional arguments, for usage: "[JSON]"
	summary string
	detail  string
	flags   func(fs *flag.FlagSet)
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands in the order help lists them. Filled in init: run refers to the table.
var commands []command

func init() {
	commands = []command{
		{name: "run", summary: "run the daemon (the default command)",
			detail: "Checks the config and its environment, starts every stream and signals READY to systemd. " +
				"SIGHUP reloads the config, SIGTERM and SIGINT drain and stop.",
			flags: configFlag, run: cmdRun},
		{name: "check", summary: "validate the config and its environment; print it with secrets redacted",
			detail: "Exits 2 naming every problem: keys and lines of the file, then directories, commands, tokens " +
				"and certificates that would fail at run time.",
			flags: func(fs *flag.FlagSet) {
				configFlag(fs)
				fs.Bool("no-environment", false, "check the file only, not the directories, commands, tokens and certificates it names")
			}, run: cmdCheck},
		{name: "status", summary: "show every stream's and sink's state through the control API",
			flags: func(fs *flag.FlagSet) {
				configFlag(fs)
				tokenFlag(fs)
				fs.Bool("json", false, "print JSON for scripts")
			}, run: func(args []string, stdout, _ io.Writer) error { return cmdStatus(args, stdout) }},
		{name: "send", args: "[JSON]", summary: "queue a message for a stream's upstream (NDJSON on stdin without JSON)",
			flags: func(fs *flag.FlagSet) {
				configFlag(fs)
				tokenFlag(fs)
				fs.String("stream", "", "stream name (required)")
			}, run: func(args []string, stdout, _ io.Writer) error { return cmdSend(args, stdout) }},
		{name: "demo", summary: "run against an embedded demo upstream on loopback",
			flags: func(fs *flag.FlagSet) {
				fs.Bool("chaos", false, "drop the demo connection every few seconds")
				fs.Int("rate", 5, "events per second from the demo upstream")
				fs.Bool("cluster", false, "two instances sharing four feeds through an embedded NATS JetStream")
				fs.Duration("stop-after", 10*time.Second, "with --cluster: stop the first instance after this long")
				fs.Duration("duration", 0, "with --cluster: end the demo after this long (0: at Ctrl-C)")
			}, run: cmdDemo},
		{name: "version", summary: "print the version, VCS revision, build date and Go version",
			flags: func(*flag.FlagSet) {}, run: func(_ []string, stdout, _ io.Writer) error {
				fmt.Fprint(stdout, readBuildInfo())
				return nil
			}},
		{name: "completion", args: "bash|zsh|fish", summary: "print a shell completion script",
			detail: "bash: source <(holdfast completion bash). zsh: holdfast completion zsh > \"${fpath[1]}/_holdfast\". " +
				"fish: holdfast completion fish > ~/.config/fish/completions/holdfast.fish.",
			flags: func(*flag.FlagSet) {}, run: cmdCompletion},
		{name: "man", summary: "print the man page (roff)", flags: func(*flag.FlagSet) {}, run: cmdMan},
		{name: "help", args: "[COMMAND]", summary: "show help for holdfast or one command", flags: func(*flag.FlagSet) {}, run: cmdHelp},
	}
}

// configFlag is --config; an empty value means the search order in configPath.
func configFlag(fs *flag.FlagSet) {
	fs.String("config", "", "config file (default: $HOLDFAST_CONFIG, else ./config.toml, else /etc/holdfast/config.toml)")
}

// tokenFlag is --token-file for the control API client.
func tokenFlag(fs *flag.FlagSet) {
	fs.String("token-file", "", "file holding the control API token (default: $HOLDFAST_CONTROL_TOKEN, else the config's [control] token)")
}

// systemConfig is where a packaged install keeps its config.
const systemConfig = "/etc/holdfast/config.toml"

// configPath resolves the config file: --config, else $HOLDFAST_CONFIG, else ./config.toml
// when it exists, else /etc/holdfast/config.toml.
func configPath(fs *flag.FlagSet) string {
	if p := flagString(fs, "config"); p != "" {
		return p
	}
	if p := os.Getenv("HOLDFAST_CONFIG"); p != "" {
		return p
	}
	if _, err := os.Stat("config.toml"); err == nil {
		return "config.toml"
	}
	return systemConfig
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// flagSet is the parsed-nothing-yet flag set of a command.
func flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c, ok := lookup(name); ok {
		c.flags(fs)
	}
	return fs
}

func flagString(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }
func flagBool(fs *flag.FlagSet, name string) bool     { return fs.Lookup(name).Value.String() == "true" }

// errHelp is returned when -h or --help was given: usage goes to stdout, and the exit is 0.
type errHelp struct{ cmd string }

func (e errHelp) Error() string { return "help requested" }

// parseFlags parses args; -h/--help becomes errHelp, other flag errors usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp{fs.Name()}
		}
		return usageError{fmt.Errorf("%s: %w (see holdfast %s --help)", fs.Name(), err, fs.Name())}
	}
	return nil
}

// usageText is the help of the whole program.
func usageText() string {
	var b strings.Builder
	b.WriteString("usage: holdfast [COMMAND] [FLAGS]\n\nholdfast keeps WebSocket feeds flowing into sinks.\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.summary)
	}
	b.WriteString("\nflags of every command: -h, --help\n" +
		"holdfast --version is holdfast version; holdfast with only flags is holdfast run.\n" +
		"Run 'holdfast COMMAND --help' for a command's flags.\n\n" +
		"exit status: 0 clean stop, 1 runtime failure (systemd restarts), 2 bad config or usage.\n")
	return b.String()
}

// commandUsage is one command's help, every flag listed.
func commandUsage(c command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: holdfast %s [FLAGS]", c.name)
	if c.args != "" {
		b.WriteString(" " + c.args)
	}
	fmt.Fprintf(&b, "\n\n%s.\n", upperFirst(c.summary))
	if c.detail != "" {
		b.WriteString(c.detail + "\n")
	}
	b.WriteString("\nflags:\n")
	fs := flagSet(c.name)
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(&b, "  --%s%s\n        %s%s\n", f.Name, argHint(f), f.Usage, defaultHint(f))
	})
	b.WriteString("  -h, --help\n        show this help\n")
	return b.String()
}

func argHint(f *flag.Flag) string {
	if isBool(f) {
		return ""
	}
	switch f.Name {
	case "config", "token-file":
		return " FILE"
	case "stream":
		return " NAME"
	}
	return " N"
}

func defaultHint(f *flag.Flag) string {
	if f.DefValue == "" || f.DefValue == "false" {
		return ""
	}
	return " (default " + f.DefValue + ")"
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func cmdHelp(args []string, stdout, _ io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usageText())
		return nil
	}
	c, ok := lookup(args[0])
	if !ok {
		return usageError{fmt.Errorf("help: unknown command %q", args[0])}
	}
	fmt.Fprint(stdout, commandUsage(c))
	return nil
}

// dispatch runs the command args name, and reports -h/--help by printing usage.
func dispatch(args []string, stdout, stderr io.Writer) error {
	name := "run"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "--help", "-help":
			fmt.Fprint(stdout, usageText())
			return nil
		case "--version", "-version", "-V":
			name, args = "version", args[1:]
		default:
			if !strings.HasPrefix(args[0], "-") {
				name, args = args[0], args[1:]
			}
		}
	}
	c, ok := lookup(name)
	if !ok {
		return usageError{fmt.Errorf("unknown command %q\n\n%s", name, usageText())}
	}
	if name == "version" || name == "help" || name == "completion" || name == "man" {
		for _, a := range args {
			if a == "-h" || a == "--help" || a == "-help" {
				fmt.Fprint(stdout, commandUsage(c))
				return nil
			}
		}
	}
	err := c.run(args, stdout, stderr)
	var h errHelp
	if errors.As(err, &h) {
		fmt.Fprint(stdout, commandUsage(c))
		return nil
	}
	return err
}

// flagNames lists a command's flags as --name, sorted.
func flagNames(name string) []string {
	var out []string
	flagSet(name).VisitAll(func(f *flag.Flag) { out = append(out, "--"+f.Name) })
	sort.Strings(out)
	return append(out, "--help")
}
