package actors

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
	"github.com/sluicehq/sluice/config"
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

// TestStartHonoursItsContext: a broker address that accepts connections and never answers (a
// black-holed load balancer) makes sarama wait its read timeout (30 s) per attempt; Start must
// give up when its context ends, with the context's error, and start nothing.
func TestStartHonoursItsContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	cfg, err := config.Load("t.hcl", []byte(`kafka { brokers = ["`+ln.Addr().String()+`"] }
input "opentsdb" { topics = ["in"] }
output "kafka" "o" { topic = "o" }
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, hclog.NewNullLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err = p.Start(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start returned %v, want the context's deadline", err)
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Fatalf("Start took %s after its 500 ms context ended", took)
	}
	if s := p.Stop(context.Background()); !s.Drained {
		t.Fatalf("a pipeline that never started did not stop clean: %+v", s)
	}
}
