// Command holdfast keeps WebSocket feeds flowing into sinks. See README.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes, as systemd's RestartPreventExitStatus=2 expects.
const (
	exitOK      = 0
	exitRuntime = 1 // systemd restarts the service
	exitUsage   = 2 // bad config or usage: restarting will not help
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage: holdfast <command> [flags]

commands:
  run     --config FILE   run the daemon (the default command)
  check   --config FILE   validate the config and print it with secrets redacted
  demo    [--chaos]       run against an embedded demo upstream on loopback
  send    --config FILE --stream NAME [JSON]   queue a message (NDJSON on stdin without JSON)
  status  --config FILE [--json]               show every stream's state
  version                 print the version
`

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = cmdRun(args, stdout, stderr)
	case "check":
		err = cmdCheck(args, stdout)
	case "demo":
		err = cmdDemo(args, stdout, stderr)
	case "send":
		err = cmdSend(args, stdout)
	case "status":
		err = cmdStatus(args, stdout)
	case "version":
		fmt.Fprint(stdout, readBuildInfo())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageError{fmt.Errorf("unknown command %q\n%s", cmd, usage)}
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "holdfast:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitRuntime
}
