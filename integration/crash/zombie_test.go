package crash

import (
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// TestZombieFencedExactlyOnce is the zombie of Kafka's exactly-once rules, with the default
// timeouts: task A, busy with delivery = "exactly_once", freezes (SIGSTOP: a long GC pause, a
// stalled host) past its session timeout; task B takes its partitions over in a new group
// generation and goes on. When A wakes (SIGCONT) with a transaction of shard records and input
// offsets to finish, the broker must refuse it — its open transaction was aborted when its
// transaction timeout passed, and its offsets carry a generation that is no longer the group's
// (KIP-447) — and A must stop rather than write. What A read before B's generation is read again
// by B; a read_committed consumer finds every datapoint on the shard topic exactly once.
func TestZombieFencedExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about a minute")
	}
	const (
		topic     = "in.zombie"
		lines     = 600_000
		trickle   = 600_000
		perRecord = 100
	)
	b := kafkatest.StartProcess(t)
	b.CreateTopic(t, topic, 8)
	b.CreateTopic(t, outTopic, shards)
	input, exp := kafkatest.Generate(lines + trickle)
	b.Produce(t, topic, input[:lines], perRecord)
	// Agents keep writing 20,000 lines a second for 30 s, so that A has a transaction open when it
	// freezes and B has work when it takes over.
	produced := sluicetest.ProduceOver(t, &b.Cluster, topic, input[lines:], 4_000, perRecord)
	cfg, def := sluicetest.DefaultConfigOutput(t, b.Addrs[0], topic, "  delivery = \"exactly_once\"\n")
	committed := func() (done int64) {
		c, _ := b.Offsets(t, group, topic)
		for _, o := range c {
			done += max(o, 0)
		}
		return done
	}
	bin := sluicetest.Binary(t)
	a := sluicetest.Start(t, bin, nil, "run", "-config", cfg)
	kafkatest.WaitFor(t, time.Minute, "task A to commit a transaction", func() bool { return committed() > 0 })
	if err := a.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozeAt := committed()
	t.Logf("task A frozen with %d input records committed", frozeAt)

	bTask := sluicetest.Start(t, bin, nil, "run", "-config", cfg)
	bound := def.Kafka.SessionTimeout + def.Kafka.RebalanceTimeout + 10*time.Second
	kafkatest.WaitFor(t, bound, "task B to own all 8 partitions and commit", func() bool {
		return sluicetest.Sum(sluicetest.Scrape(t, bTask.HTTPAddr(t))["sluice_partition_owned"], nil) == 8 && committed() > frozeAt
	})
	// A stays frozen past its transaction timeout (10 s at the defaults), as a zombie does.
	time.Sleep(12 * time.Second)
	if err := a.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	case <-time.After(def.Pipeline.ShutdownTimeout + 30*time.Second):
		t.Fatal("task A woke into a generation that is not its own and did not stop")
	}
	_ = a.Cmd.Wait()
	code := a.Cmd.ProcessState.ExitCode()
	aborted := a.Count("transaction aborted; escalating, so that the partitions are read again from the last commit")
	t.Logf("task A woke, exited %d; %d transaction(s) aborted", code, aborted)
	if code == 0 {
		t.Errorf("task A exited 0 after its transaction was fenced; want a failure that makes ECS replace it")
	}

	<-produced
	kafkatest.WaitFor(t, 2*time.Minute, "the input committed to its end by B", func() bool {
		return len(b.Uncommitted(t, group, topic)) == 0
	})
	if c, last := bTask.Stop(t); c != 0 {
		t.Fatalf("task B: exit %d on SIGTERM, last line %v", c, last)
	}
	counts, stray, misplaced := b.TallyCommitted(t, outTopic, shards, exp.Lines)
	checked, dups := sluicetest.CheckCounts(t, &b.Cluster, exp, topic, counts, stray, misplaced)
	if dups > 0 {
		t.Fatalf("%d of %d valid datapoints are on the shard topic more than once (read_committed): the zombie's writes were not fenced", dups, checked)
	}
	counts, stray, misplaced = b.Tally(t, outTopic, shards, exp.Lines)
	_, uncommitted := sluicetest.CheckCounts(t, &b.Cluster, exp, topic, counts, stray, misplaced)
	t.Logf("%d valid datapoints, each exactly once as read_committed sees it; %d more in aborted transactions", checked, uncommitted)
}
