package actors

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
)

// TestPoisonAllHonoursTheDeadline: an actor stuck in a message (a bug, or an output client that
// blocks) must not hold the stop past shutdown_timeout; protoactor's own futures would wait 10 s
// for each such actor.
func TestPoisonAllHonoursTheDeadline(t *testing.T) {
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(newSlogHandler(hclog.NewNullLogger()))
	})))
	defer system.Shutdown()
	release := make(chan struct{})
	defer close(release)
	stuck := system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(string); ok {
			<-release // the stuck message; the test's cleanup lets it go
		}
	}))
	quick := system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	system.Root.Send(stuck, "block")

	if !poisonAll(context.Background(), system.Root, hclog.NewNullLogger(), "quick", []*actor.PID{quick}) {
		t.Fatal("an idle actor did not stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if poisonAll(ctx, system.Root, hclog.NewNullLogger(), "stuck", []*actor.PID{stuck}) {
		t.Fatal("a stuck actor reported stopped")
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Fatalf("poisonAll returned %s after a 300 ms deadline", took)
	}
}
