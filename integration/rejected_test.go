package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/proto/prompb"
)

// runRejected makes every shard record too large for the output topic (1 KiB max): a permanent
// error. The pipeline must not retry forever: with a dead-letter topic the records go there, and
// without one their datapoints are counted; either way the input commits to its end.
func runRejected(t *testing.T, dlq string) (*kafkatest.Cluster, actors.Summary, *kafkatest.Expected) {
	const topic, out = "in.rejected", "out.small"
	c := kafkatest.Start(t, topic, 2, outTopic, shards)
	c.CreateTopicMax(t, out, shards, 1024)
	extra := ""
	if dlq != "" {
		c.CreateTopic(t, dlq, 1)
		extra = fmt.Sprintf("dead_letter { topic = %q }", dlq)
	}
	lines, exp := kafkatest.Generate(20_000)
	c.Produce(t, topic, lines, 100)
	p, err := actors.New(c.Config(t, topic, out, shards, extra), kafkatest.Logger(t, "off"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, time.Minute, "the input committed to its end", func() bool {
		return len(c.Uncommitted(t, group, topic)) == 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := p.Stop(ctx)
	if s.DatapointsOut != 0 || s.Dropped[messages.ReasonOutputRejected] != int64(len(exp.Valid)) {
		t.Fatalf("out %d, output_rejected %d; want 0 and %d", s.DatapointsOut, s.Dropped[messages.ReasonOutputRejected], len(exp.Valid))
	}
	if s.DatapointsIn != s.DatapointsOut+s.Dropped.Total() {
		t.Fatalf("in %d != out %d + dropped %d", s.DatapointsIn, s.DatapointsOut, s.Dropped.Total())
	}
	if s.RawInUse+s.ShardInUse+s.DeadLetterInUse != 0 {
		t.Fatalf("leaked batches: %+v", s)
	}
	return c, s, exp
}

func TestOutputRejectedToDeadLetter(t *testing.T) {
	const dlq = "sluice.dead"
	c, _, exp := runRejected(t, dlq)
	seen := map[int64]bool{}
	rejected := 0
	for _, m := range c.ReadRecords(t, dlq) {
		h := map[string]string{}
		for _, rh := range m.Headers {
			h[string(rh.Key)] = string(rh.Value)
		}
		if h[actors.HeaderReason] == "unparseable" {
			continue // the generated input's bad lines
		}
		rejected++
		if h[actors.HeaderReason] != "output_rejected" || h[actors.HeaderSourceTopic] != "out.small" || h[actors.HeaderDetail] == "" {
			t.Fatalf("dead letter headers %v", h)
		}
		for _, ts := range decodeWriteRequest(t, m.Value).Timeseries {
			for _, smp := range ts.Samples {
				seen[int64(smp.Value)] = true
			}
		}
	}
	for v := range exp.Valid {
		if !seen[v] {
			t.Fatalf("datapoint %d is neither on the output nor on the dead-letter topic", v)
		}
	}
	t.Logf("%d rejected shard records on the dead-letter topic hold all %d datapoints", rejected, len(exp.Valid))
}

func TestOutputRejectedWithoutDeadLetter(t *testing.T) {
	runRejected(t, "")
}

// decodeWriteRequest decodes a snappy-compressed remote-write WriteRequest (a shard record or a
// dead-lettered one).
func decodeWriteRequest(t *testing.T, v []byte) *prompb.WriteRequest {
	t.Helper()
	raw, err := snappy.Decode(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	var wr prompb.WriteRequest
	if err := proto.Unmarshal(raw, &wr); err != nil {
		t.Fatal(err)
	}
	return &wr
}
