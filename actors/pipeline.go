package actors

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
)

// RootName is the root actor's name; its children are named "<kind>-<index>" (and "tracker")
// beneath it, so their PIDs survive a respawn.
const RootName = "pipeline"

// pipelineActor is the root: it spawns writers, then workers, the offset tracker and readers
// under a OneForOne strategy whose budget comes from `supervisor {}`, and respawns a child that
// terminates so the configured counts hold. Terminations beyond the budget escalate: the process
// is asked to shut down and exit non-zero so that the orchestrator replaces it.
type pipelineActor struct {
	d        *deps
	log      hclog.Logger
	stopping bool
	respawns []time.Time
}

func newPipelineActor(d *deps) actor.Producer {
	return func() actor.Actor { return &pipelineActor{d: d, log: d.log.Named("pipeline")} }
}

// supervisorStrategy restarts a failed child; more than max_restarts failures of one child within
// `within` stop it, which the root sees as a termination.
func supervisorStrategy(d *deps) actor.SupervisorStrategy {
	s := d.cfg.Supervisor
	return actor.NewOneForOneStrategy(s.MaxRestarts, s.Within, func(reason any) actor.Directive {
		d.stats.Restarts.Add(1)
		return actor.RestartDirective
	})
}

func (p *pipelineActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		d := p.d
		for i := 0; i < d.writers; i++ {
			d.writerPIDs[i] = p.spawn(ctx, "writer", i)
		}
		if d.deadLetter != nil {
			d.deadLetterPID = p.spawn(ctx, "deadletter", -1)
		}
		for i := 0; i < d.workers; i++ {
			d.workerPIDs[i] = p.spawn(ctx, "worker", i)
		}
		d.trackerPID = p.spawn(ctx, "tracker", -1)
		for i := range d.readerPIDs {
			d.readerPIDs[i] = p.spawn(ctx, "reader", i)
		}
		p.log.Info("pipeline started", "readers", len(d.readerPIDs), "workers", d.workers, "writers", d.writers, "shards", d.shards)
	case *actor.Stopping, *actor.Stopped, *actor.Restarting:

	case beginShutdown:
		p.stopping = true
	case *actor.Terminated:
		if p.stopping {
			return
		}
		p.respawn(ctx, m.Who)
	default:
		p.log.Warn("unexpected message", "type", typeName(m))
	}
}

func (p *pipelineActor) props(kind string, index int) *actor.Props {
	d := p.d
	var producer actor.Producer
	switch kind {
	case "writer":
		producer = newWriter(d, index)
	case "worker":
		producer = newWorker(d, index)
	case "tracker":
		producer = newTracker(d)
	case "deadletter":
		producer = newDeadLetterWriter(d)
	case "reader":
		producer = newReader(d, index)
	}
	return actor.PropsFromProducer(producer, actor.WithReceiverMiddleware(logPanics(d.log)))
}

func childName(kind string, index int) string {
	if index < 0 {
		return kind
	}
	return kind + "-" + strconv.Itoa(index)
}

func (p *pipelineActor) spawn(ctx actor.Context, kind string, index int) *actor.PID {
	pid, err := ctx.SpawnNamed(p.props(kind, index), childName(kind, index))
	if err != nil {
		// Only a name clash can fail here: a bug, not a runtime condition.
		panic(fmt.Sprintf("spawning %s: %v", childName(kind, index), err))
	}
	return pid
}

// respawn replaces a terminated child under the same name and escalates when children terminate
// more often than the restart budget allows.
func (p *pipelineActor) respawn(ctx actor.Context, who *actor.PID) {
	name := strings.TrimPrefix(who.Id, ctx.Self().Id+"/")
	kind, idx, _ := strings.Cut(name, "-")
	index := -1
	if idx != "" {
		index, _ = strconv.Atoi(idx)
	}
	p.d.stats.Respawns.Add(1)
	now := time.Now()
	s := p.d.cfg.Supervisor
	kept := p.respawns[:0]
	for _, t := range p.respawns {
		if now.Sub(t) < s.Within {
			kept = append(kept, t)
		}
	}
	p.respawns = append(kept, now)
	p.log.Error("actor terminated after exhausting its restart budget; respawning it", "actor", name,
		"max_restarts", s.MaxRestarts, "within", s.Within)
	p.spawn(ctx, kind, index)
	if len(p.respawns) > 1 {
		p.d.fatal(fmt.Errorf("actor %s exhausted its restart budget (%d restarts within %s) again within %s",
			name, s.MaxRestarts, s.Within, s.Within))
	}
}
