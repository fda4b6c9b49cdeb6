package actors

import (
	"context"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/kafkaio"
	"github.com/sluicehq/sluice/output"
)

// committer makes an exactly-once output's transactions (delivery = "exactly_once"): every
// commit interval, and whenever a reader giving up a partition asks (commitNow), it shuts the
// readers' gate, has the writers flush, waits until nothing is in flight — every batch read is
// then wholly in the open transaction, acknowledged, or not read yet — and commits the
// transaction with the offsets the tracker recorded as acknowledged, each member's under its
// group generation. Then it opens the gate. A failed commit aborts the transaction (its records
// are never read by a read_committed consumer, its offsets are not committed) and escalates:
// the process exits and its partitions are read again from the last commit by their next owner.
type committer struct {
	d   *committerDeps
	log hclog.Logger

	draining, committing bool
	began                time.Time
	// waiting are the commitNow requests the cycle in progress answers; queued those that came
	// while it was committing, which the next cycle answers.
	waiting, queued []chan struct{}
	// committed is the offset each claim committed last.
	committed map[*claim]int64
	timer     *time.Timer
}

// committerDeps is what the committer uses.
type committerDeps struct {
	log        hclog.Logger
	cfg        *config.Config
	txn        output.Transactional
	gate       *txnGate
	claims     *claimRegistry
	writerPIDs []*actor.PID
	root       *actor.RootContext
	stats      *Stats
	fatal      func(error)
}

// commitTick starts a cycle on the interval; commitPoll checks whether the pipeline drained;
// commitDone is a commit's outcome, with the offsets it committed.
type (
	commitTick struct{}
	commitPoll struct{}
	commitDone struct {
		err     error
		offsets map[*claim]int64
		took    time.Duration
	}
)

// commitNow asks for a transaction now; done is closed when it is committed (or failed).
type commitNow struct{ done chan struct{} }

// commitPollEvery is how often a draining committer looks whether everything is acknowledged.
const commitPollEvery = 2 * time.Millisecond

func newCommitter(d *committerDeps) actor.Producer {
	return func() actor.Actor {
		return &committer{d: d, log: d.log.Named("committer"), committed: map[*claim]int64{}}
	}
}

func (c *committer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.after(ctx, c.d.cfg.Kafka.CommitInterval, commitTick{})
	case *actor.Restarting:
		// The cycle in progress is lost: never leave the readers shut out or waiting.
		c.log.Warn("committer restarting; the transaction in progress is committed by the next cycle")
		c.release()
	case *actor.Stopping:
		if c.timer != nil {
			c.timer.Stop()
		}
		c.release()
	case *actor.Stopped:

	case commitTick:
		c.start(ctx)
	case commitNow:
		switch {
		case c.committing:
			c.queued = append(c.queued, m.done)
		default:
			c.waiting = append(c.waiting, m.done)
			c.start(ctx)
		}
	case commitPoll:
		c.poll(ctx)
	case commitDone:
		c.done(ctx, m)
	default:
		c.log.Warn("unexpected message", "type", typeName(m))
	}
}

// start begins a cycle unless one runs.
func (c *committer) start(ctx actor.Context) {
	if c.draining || c.committing {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.draining, c.began = true, time.Now()
	c.d.gate.shut()
	for _, w := range c.d.writerPIDs {
		ctx.Send(w, flushNow{})
	}
	c.poll(ctx)
}

// poll commits once no reader is adding a record and no batch is in flight.
func (c *committer) poll(ctx actor.Context) {
	if !c.draining {
		return
	}
	claims := c.d.claims.snapshot()
	if err := c.d.txn.Failed(); err != nil {
		// What is in flight can never be acknowledged into this transaction.
		c.draining = false
		c.done(ctx, commitDone{err: err})
		return
	}
	if c.d.gate.busy() || inFlight(claims) {
		c.after(ctx, commitPollEvery, commitPoll{})
		return
	}
	c.draining = false
	offsets := map[*claim]int64{}
	byMember := map[[3]any]int{} // index in groups
	var groups []output.GroupOffsets
	for _, cl := range claims {
		next := cl.acked.Load()
		if prev, ok := c.committed[cl]; next < 0 || ok && next <= prev {
			continue
		}
		offsets[cl] = next
		k := [3]any{cl.group, cl.sess.GenerationID(), cl.sess.MemberID()}
		i, ok := byMember[k]
		if !ok {
			i = len(groups)
			groups = append(groups, output.GroupOffsets{Group: cl.group, Generation: cl.sess.GenerationID(), Member: cl.sess.MemberID(),
				InstanceID: kafkaio.InstanceID(c.d.cfg.Kafka, cl.reader), Offsets: map[string]map[int32]int64{}})
			byMember[k] = i
		}
		g := &groups[i]
		if g.Offsets[cl.Topic] == nil {
			g.Offsets[cl.Topic] = map[int32]int64{}
		}
		g.Offsets[cl.Topic][cl.Partition] = next
	}
	if len(groups) == 0 { // nothing read since the last commit, so nothing written either
		c.done(ctx, commitDone{})
		return
	}
	c.committing = true
	txn, self, root, began := c.d.txn, ctx.Self(), c.d.root, c.began
	go func() {
		err := txn.Commit(groups)
		root.Send(self, commitDone{err: err, offsets: offsets, took: time.Since(began)})
	}()
}

func (c *committer) done(ctx actor.Context, m commitDone) {
	c.committing = false
	if m.err != nil {
		c.d.stats.TxnAborted.Add(1)
		c.log.Error("transaction aborted; escalating, so that the partitions are read again from the last commit", "error", m.err,
			"transactional_id", c.d.txn.TransactionalID())
		for _, w := range c.waiting {
			close(w)
		}
		c.waiting = nil
		c.d.fatal(m.err) // the gate stays shut: nothing more goes into a broken transaction
		return
	}
	if m.offsets != nil {
		c.d.stats.TxnCommitted.Add(1)
		c.d.stats.TxnCommitNanos.Add(m.took.Nanoseconds())
	}
	for cl, off := range m.offsets {
		c.committed[cl] = off
	}
	for cl := range c.committed {
		if cl.ended() {
			delete(c.committed, cl)
		}
	}
	c.d.gate.open()
	for _, w := range c.waiting {
		close(w)
	}
	c.waiting, c.queued = c.queued, nil
	if len(c.waiting) > 0 {
		c.start(ctx)
		return
	}
	c.after(ctx, c.d.cfg.Kafka.CommitInterval, commitTick{})
}

// release opens the gate and answers every request, for a committer that stops or restarts.
func (c *committer) release() {
	c.draining, c.committing = false, false
	c.d.gate.open()
	for _, w := range append(c.waiting, c.queued...) {
		close(w)
	}
	c.waiting, c.queued = nil, nil
}

// after sends msg to the committer after d.
func (c *committer) after(ctx actor.Context, d time.Duration, msg any) {
	root, self := c.d.root, ctx.Self()
	t := time.AfterFunc(d, func() { root.Send(self, msg) })
	if _, tick := msg.(commitTick); tick {
		c.timer = t
	}
}

func inFlight(claims []*claim) bool {
	for _, cl := range claims {
		if cl.inflight.Load() > 0 {
			return true
		}
	}
	return false
}

// txnGate holds the readers back while the committer drains the pipeline: a reader enters it
// for each record it adds and for each batch it sends, and waits while it is shut.
type txnGate struct {
	mu      sync.Mutex
	shutC   chan struct{} // nil: open
	entered int
}

// enter waits until the gate is open and counts the caller in; false when ctx ended first.
func (g *txnGate) enter(ctx context.Context) bool {
	if g == nil {
		return true
	}
	g.mu.Lock()
	for g.shutC != nil {
		c := g.shutC
		g.mu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			return false
		}
		g.mu.Lock()
	}
	g.entered++
	g.mu.Unlock()
	return true
}

func (g *txnGate) leave() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.entered--
	g.mu.Unlock()
}

func (g *txnGate) shut() {
	g.mu.Lock()
	if g.shutC == nil {
		g.shutC = make(chan struct{})
	}
	g.mu.Unlock()
}

func (g *txnGate) open() {
	g.mu.Lock()
	if g.shutC != nil {
		close(g.shutC)
		g.shutC = nil
	}
	g.mu.Unlock()
}

// busy reports whether a reader is inside.
func (g *txnGate) busy() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.entered > 0
}
