package messages

// Crash is the reason a child fails with when it panicked on a bug (anything but a Failure):
// the panic's value and the stack of the crash site, captured by actors.CrashSite before the
// stack unwinds. The parent's strategy logs it; by the time it runs, only its own stack is left.
type Crash struct {
	Reason string // the panic value, formatted
	Stack  string // the panicking goroutine's stack at the panic
}

func (c *Crash) Error() string { return "panic: " + c.Reason }
