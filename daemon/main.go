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
	exitOK        = 0
	exitRuntime   = 1 // systemd restarts the service
	exitUsage     = 2 // bad config or usage: restarting will not help
	exitAbandoned = 3 // the shutdown timed out: what was still held is logged as abandoned
)

func main() {
	setLogFormats()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "holdfast:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	if errors.Is(err, errShutdownTimedOut) {
		return exitAbandoned
	}
	return exitRuntime
}
