package integration

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
)

// TestExactlyOncePipeline: with delivery = "exactly_once" every valid datapoint is on its shard
// exactly once as a read_committed consumer sees the topic, the input is committed to its end
// (through the transactions, not the group's own commits), and nothing is left in a pool; a
// member's offsets go into each transaction with its group generation, and with its static
// instance id where kafka.instance_id is set (the coordinator checks both).
func TestExactlyOncePipeline(t *testing.T) {
	t.Run("dynamic membership", func(t *testing.T) { exactlyOncePipeline(t, "") })
	t.Run("static membership", func(t *testing.T) { exactlyOncePipeline(t, `instance_id = "eos"`) })
}

func exactlyOncePipeline(t *testing.T, kafkaExtra string) {
	c := kafkatest.Start(t, inTopic, 6, outTopic, shards)
	c.KafkaHCL += "\n" + kafkaExtra
	lines, exp := kafkatest.Generate(200_000)
	c.Produce(t, inTopic, lines, 100)
	cfg := c.ConfigFor(t, "input \"opentsdb\" {\n  topics = [\""+inTopic+"\"]\n  group = \""+group+"\"\n}\n", outTopic, shards,
		`delivery = "exactly_once"`, sizes)
	p, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 2*time.Minute, "every line to be written or dropped", done(p, exp))
	kafkatest.WaitFor(t, time.Minute, "the input's offsets to be committed in transactions", func() bool {
		return len(c.Uncommitted(t, group, inTopic)) == 0
	})
	s := stop(t, p)
	if !s.Drained || s.TxnCommitted == 0 || s.TxnAborted != 0 {
		t.Fatalf("drained %v, transactions committed %d, aborted %d", s.Drained, s.TxnCommitted, s.TxnAborted)
	}
	t.Logf("%d transactions, %.1f ms each from gate to commit", s.TxnCommitted, float64(s.TxnCommitNanos)/float64(s.TxnCommitted)/1e6)
	checkPoints(t, c, c.ReadCommittedOutput(t, outTopic), exp, s, true)
}
