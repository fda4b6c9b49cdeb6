package actors

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
)

// rootName is the root actor's name; its children are named "<kind>-<index>" (and "tracker")
// beneath it, so their PIDs survive a respawn.
const rootName = "pipeline"

// pipelineActor is the root: it spawns writers, then workers, the offset tracker and readers
// under a OneForOne strategy whose budget comes from `supervisor {}`, and respawns a child that
// terminates so the configured counts hold. Terminations beyond the budget escalate: the process
// is asked to shut down and exit non-zero so that the orchestrator replaces it.
type pipelineActor struct {
	d        *deps
	log      hclog.Logger
	stopping bool
}

func newPipelineActor(d *deps) actor.Producer {
	return func() actor.Actor { return &pipelineActor{d: d, log: d.log.Named("pipeline")} }
}

// supervisorStrategy restarts a failed child; more than max_restarts failures of one child within
// `within` stop it, which the root sees as a termination. It remembers each child's last failure
// for the escalation message and counts failures by actor kind.
func supervisorStrategy(d *deps) actor.SupervisorStrategy {
	s := d.cfg.Supervisor
	return &recordingStrategy{d: d, inner: actor.NewOneForOneStrategy(s.MaxRestarts, s.Within, func(reason any) actor.Directive {
		return actor.RestartDirective
	})}
}

type recordingStrategy struct {
	d     *deps
	inner actor.SupervisorStrategy
}

// HandleFailure runs on the root's mailbox, like its Receive, so lastFailure needs no lock.
func (s *recordingStrategy) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason any, message any) {
	s.d.lastFailure[child.Id] = fmt.Sprint(reason)
	name := child.Id[strings.LastIndexByte(child.Id, '/')+1:]
	kind, _, _ := strings.Cut(name, "-")
	for i, k := range actorKinds {
		if k == kind {
			s.d.stats.RestartsByKind[i].Add(1)
		}
	}
	s.inner.HandleFailure(sys, sup, child, rs, reason, message)
}

func (p *pipelineActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		d := p.d
		for i, pid := range d.writerPIDs {
			p.spawn(ctx, "writer", i, pid)
		}
		if d.deadLetterPID != nil {
			p.spawn(ctx, "deadletter", -1, d.deadLetterPID)
		}
		for i, pid := range d.workerPIDs {
			p.spawn(ctx, "worker", i, pid)
		}
		p.spawn(ctx, "tracker", -1, d.trackerPID)
		if d.committerPID != nil {
			p.spawn(ctx, "committer", -1, d.committerPID)
		}
		if d.coordinatorPID != nil {
			p.spawn(ctx, "coordinator", -1, d.coordinatorPID)
		}
		p.spawn(ctx, "shedder", -1, d.shedderPID)
		for i, pid := range d.readerPIDs {
			p.spawn(ctx, "reader", i, pid)
		}
		var outs []string
		for _, o := range d.plans {
			outs = append(outs, fmt.Sprintf("%s(%s, %d shards, %d writers)", o.cfg.Name, o.cfg.Type, o.shards, o.writers))
		}
		d.spawnedOnce.Do(func() { close(d.spawned) })
		p.log.Info("pipeline started", "readers", len(d.readerPIDs), "workers", d.workers, "writers", len(d.writerPIDs),
			"outputs", strings.Join(outs, " "))
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
		producer = newWriter(d.forWriter(), index)
	case "worker":
		producer = newWorker(d.forWorker(), index)
	case "tracker":
		producer = newTracker(d.forTracker())
	case "deadletter":
		producer = newDeadLetterWriter(d.forDeadLetter())
	case "reader":
		producer = newReader(d.forReader(), index)
	case "coordinator":
		producer = newCoordinator(d.forCoordinator())
	case "shedder":
		producer = newShedder(d.forShedder())
	case "committer":
		producer = newCommitter(d.forCommitter())
	}
	return actor.PropsFromProducer(producer, actor.WithReceiverMiddleware(logPanics(d.log)))
}

func childName(kind string, index int) string {
	if index < 0 {
		return kind
	}
	return kind + "-" + strconv.Itoa(index)
}

// spawn starts a child under its fixed name; want is the PID Start computed for it.
func (p *pipelineActor) spawn(ctx actor.Context, kind string, index int, want *actor.PID) {
	pid, err := ctx.SpawnNamed(p.props(kind, index), childName(kind, index))
	if err != nil || !pid.Equal(want) {
		// Only a name clash can fail here: a bug, not a runtime condition.
		panic(fmt.Sprintf("spawning %s: %v (pid %v, want %v)", childName(kind, index), err, pid, want))
	}
}

// respawn replaces a terminated child under the same name, so the counts hold while the process
// shuts down, and escalates: a child only terminates when it exhausted its restart budget, and
// then the process must stop gracefully and exit non-zero for the orchestrator to replace it.
func (p *pipelineActor) respawn(ctx actor.Context, who *actor.PID) {
	name := strings.TrimPrefix(who.Id, ctx.Self().Id+"/")
	kind, idx, _ := strings.Cut(name, "-")
	index := -1
	if idx != "" {
		index, _ = strconv.Atoi(idx)
	}
	p.d.stats.Respawns.Add(1)
	s := p.d.cfg.Supervisor
	last := p.d.lastFailure[who.Id]
	err := fmt.Errorf("%s actor %s failed more than %d times within %s; last failure: %s",
		kind, name, s.MaxRestarts, s.Within, last)
	p.log.Error("escalating: an actor exhausted its restart budget; shutting down", "kind", kind, "actor", name,
		"max_restarts", s.MaxRestarts, "within", s.Within, "last_failure", last)
	p.spawn(ctx, kind, index, who)
	p.d.fatal(err)
}
