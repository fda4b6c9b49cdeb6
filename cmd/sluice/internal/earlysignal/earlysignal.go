// Package earlysignal catches SIGTERM and SIGINT from the first moments of the process: it imports
// nothing but os/signal, so Go initializes it as soon as that is (about 6 ms in), before the
// heavier packages' initialization (which ends some 25 ms in). A signal that arrives meanwhile is
// kept for `sluice run` instead of killing the process with the signal's default action.
package earlysignal

import (
	"os"
	"os/signal"
	"syscall"
)

// C receives SIGTERM and SIGINT from the package's initialization on.
var C = make(chan os.Signal, 1)

func init() { signal.Notify(C, syscall.SIGTERM, syscall.SIGINT) }

// Release gives the signals back to their default action, for a command that does not handle
// them; one that arrived meanwhile is delivered again, now to that default action.
func Release() {
	signal.Stop(C)
	select {
	case s := <-C:
		if sig, ok := s.(syscall.Signal); ok {
			_ = syscall.Kill(os.Getpid(), sig)
		}
	default:
	}
}
