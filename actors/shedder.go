package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/shed"
)

// shedder sets the shedding loss factors: every shedding.interval it measures the freshness of
// the partitions this process consumes, the records it consumed and its consumer lag, and hands
// them to its shed.Controller, which sets the classes' keep thresholds that workers read per
// batch. It logs every change. Its only messages are its own timer ticks; with shedding off it
// keeps ticking (a reload may turn it on) and keeps every series.
type shedder struct {
	d     *shedderDeps
	log   hclog.Logger
	timer *time.Timer
	ctl   *shed.Controller
	cfg   config.Shedding
}

// shedderTick is the shedder's timer message.
type shedderTick struct{}

func newShedder(d *shedderDeps) actor.Producer {
	return func() actor.Actor { return &shedder{d: d, log: d.log.Named("shedder")} }
}

func (s *shedder) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.cfg = *s.d.settings.shedding.Load()
		s.ctl = shed.NewController(s.cfg, s.d.state)
		s.ctl.Step(s.observe()) // the first measurement
		s.schedule(ctx)
	case *actor.Restarting, *actor.Stopping:
		if s.timer != nil {
			s.timer.Stop()
		}
	case *actor.Stopped:

	case shedderTick:
		if cfg := *s.d.settings.shedding.Load(); cfg != s.cfg {
			s.cfg = cfg
			s.ctl.Configure(cfg)
		}
		o := s.observe()
		if changed, f := s.ctl.Step(o); changed {
			s.log.Warn("shedding loss factors changed", "normal", round3(f[shed.Normal]), "best_effort", round3(f[shed.BestEffort]),
				"freshness", o.Freshness.Round(time.Millisecond).String(), "lag", o.Lag)
		}
		s.schedule(ctx)
	default:
		s.log.Warn("unexpected message", "type", typeName(m))
	}
}

// schedule sends the next tick to this actor: timers are messages to self.
func (s *shedder) schedule(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	s.timer = time.AfterFunc(s.cfg.Interval, func() { root.Send(self, shedderTick{}) })
}

// observe measures the partitions this process consumes.
func (s *shedder) observe() shed.Observation {
	now := time.Now()
	o := shed.Observation{At: now}
	for _, c := range s.d.claims.snapshot() {
		o.Freshness = max(o.Freshness, c.freshness(now))
		o.Consumed += c.records.Load()
		o.Lag += c.lag.Load()
	}
	return o
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
