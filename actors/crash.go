package actors

import (
	"fmt"
	"runtime/debug"

	"github.com/asynkron/protoactor-go/actor"

	"holdfast/messages"
)

// CrashSite is receiver middleware for every actor a supervisor spawns. A panic that is not a
// *messages.Failure (so a bug, not a lost link) is raised again as a *messages.Crash holding
// the stack of the crash site: protoactor recovers the panic and hands the reason to the
// parent's strategy on the parent's goroutine, where debug.Stack shows only the parent.
// A Failure passes through untouched: it is expected and needs no stack.
func CrashSite(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			switch r.(type) {
			case *messages.Failure, *messages.Crash:
				panic(r)
			}
			// Deferred calls run on top of the panicking frames, so this stack still shows
			// where the panic happened.
			panic(&messages.Crash{Reason: fmt.Sprint(r), Stack: string(debug.Stack())})
		}()
		next(ctx, env)
	}
}

// Supervised adds CrashSite to props; supervisors spawn every child through it.
func Supervised(props *actor.Props) *actor.Props {
	return props.Configure(actor.WithReceiverMiddleware(CrashSite))
}
