package messages

import "holdfast/config"

// Reload asks the daemon root to apply a new, already validated config. The reply is Reloaded.
type Reload struct {
	Config *config.Config // freshly loaded; nobody else holds it
}

// Reloaded answers Reload with what changed.
type Reloaded struct {
	Added, Removed, Restarted, Unchanged []string
}
