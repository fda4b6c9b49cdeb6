package fleet

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// TestPartitionMoveAndSIGTERMDuringRebalance: with the default timeouts and a preloaded input
// consumed as fast as it goes, (1) a second process joins and half the partitions move to it
// while the first is busy, and (2) a third joins and the first gets SIGTERM in the middle of the
// rebalance that starts: it must drain what it holds, commit what was acknowledged and exit 0.
// At the end nothing is lost, and the duplicates are at most the datapoints of the batches the
// processes said they released unacknowledged (normally none: a revoked partition is drained
// and committed before it is let go).
func TestPartitionMoveAndSIGTERMDuringRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a minute")
	}
	const (
		topic     = "in.move"
		lines     = 3_000_000
		perRecord = 100
	)
	c := kafkatest.Start(t, topic, 8, outTopic, shards)
	input, exp := kafkatest.Generate(lines)
	// A fifth of the input is there at the start, the rest arrives at about 100,000 lines a
	// second, so the processes are busy with fresh records when partitions move.
	preload := lines / 5
	c.Produce(t, topic, input[:preload], perRecord)
	produced := sluicetest.ProduceOver(t, c, topic, input[preload:], 20_000, perRecord)
	cfg, def := sluicetest.DefaultConfig(t, c.Addrs[0], topic)
	// The most datapoints one batch holds: BatchRecords records, or as many of the smallest
	// records as fit in BatchBytes.
	smallest := 1 << 30
	for i := 0; i < len(input); i += perRecord {
		n := 0
		for _, l := range input[i:min(i+perRecord, len(input))] {
			n += len(l) + 1
		}
		smallest = min(smallest, n)
	}
	perBatch := min(def.Pipeline.BatchRecords, def.Pipeline.BatchBytes/smallest) * perRecord
	progress := func() float64 {
		committed, end := c.Offsets(t, group, topic)
		var done, total int64
		for p, e := range end {
			done += max(committed[p], 0)
			total += e
		}
		return float64(done) / float64(total)
	}
	owned := func(p *sluicetest.Proc) float64 {
		return sluicetest.Sum(sluicetest.Scrape(t, p.HTTPAddr(t))["sluice_partition_owned"], nil)
	}
	bin := sluicetest.Binary(t)

	a := sluicetest.Start(t, bin, nil, "run", "-config", cfg)
	kafkatest.WaitFor(t, time.Minute, "the preloaded input half committed", func() bool { return progress() >= 0.5 })

	// (1) B joins while A consumes: partitions move from A to B.
	at := progress()
	b := sluicetest.Start(t, bin, nil, "run", "-config", cfg)
	t0 := time.Now()
	kafkatest.WaitFor(t, def.Kafka.SessionTimeout+def.Kafka.RebalanceTimeout+10*time.Second, "the partitions shared by A and B", func() bool {
		na, nb := owned(a), owned(b)
		return na > 0 && nb > 0 && na+nb == 8
	})
	t.Logf("move: B joined at %.0f %% of what was written committed; A and B share the 8 partitions after %.1f s", 100*at, time.Since(t0).Seconds())

	// (2) C joins; A is stopped as soon as it learns of the rebalance.
	ended := func(p *sluicetest.Proc) int { return p.Count("group session ended; the reader rebalances") }
	before := ended(a)
	at = progress()
	cp := sluicetest.Start(t, bin, nil, "run", "-config", cfg)
	kafkatest.WaitFor(t, time.Minute, "A to learn of the rebalance C's join starts", func() bool { return ended(a) > before })
	t0 = time.Now()
	code, last := a.Stop(t)
	if code != 0 || last["@message"] != "sluice stopped" {
		t.Fatalf("A, stopped during a rebalance: exit %d, last line %v", code, last)
	}
	if limit := def.Pipeline.ShutdownTimeout + 5*time.Second; time.Since(t0) > limit {
		t.Errorf("A took %s to stop, more than shutdown_timeout + 5 s", time.Since(t0))
	}
	left, _ := last["batches_left"].(float64)
	t.Logf("SIGTERM during a rebalance at %.0f %% of what was written committed: A stopped in %.1f s, batches left %v", 100*at, time.Since(t0).Seconds(), left)

	<-produced
	kafkatest.WaitFor(t, 2*time.Minute, "the input committed to its end", func() bool {
		return len(c.Uncommitted(t, group, topic)) == 0
	})
	if na, nc := owned(b), owned(cp); na+nc != 8 {
		t.Errorf("B and C own %v + %v partitions, want 8", na, nc)
	}
	for _, p := range []*sluicetest.Proc{b, cp} {
		if code, last := p.Stop(t); code != 0 {
			t.Fatalf("exit %d, last line %v", code, last)
		}
	}
	released, refused := int(left), 0
	for _, p := range []*sluicetest.Proc{a, b, cp} {
		for _, l := range p.Lines("partition released with batches not acknowledged; they will be consumed again") {
			n, _ := l["batches"].(float64)
			released += int(n)
		}
		refused += p.Count("offset commit refused by the group coordinator; records since the partition's last commit will be consumed again")
	}
	// A commit the coordinator refused (the member drained past the rebalance timeout on a loaded
	// machine) leaves what was marked since the partition's last commit to be consumed again: a
	// commit interval or two of one partition's records, at most two batches' worth here.
	allowed := (released + 2*refused) * perBatch
	checked, dups := sluicetest.CheckZeroLoss(t, c, exp, topic)
	t.Logf("%d valid datapoints checked, all present; %d duplicates; %d batches released unacknowledged and %d commits refused (≤ %d datapoints a batch)",
		checked, dups, released, refused, perBatch)
	if dups > allowed {
		t.Errorf("%d duplicates, more than the %d batches released unacknowledged and %d refused commits can hold (%d)", dups, released, refused, allowed)
		// What the processes warned of (a commit the broker refused during the rebalance shows
		// as a consumer error), for whoever investigates.
		for name, p := range map[string]*sluicetest.Proc{"A": a, "B": b, "C": cp} {
			n := 0
			for _, l := range p.Logs() {
				if lvl := l["@level"]; (lvl == "warn" || lvl == "error") && n < 30 {
					t.Logf("%s: %v", name, l)
					n++
				}
			}
		}
	}
}
