package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
)

// TestUnparseableLinesGoToTheDeadLetterTopic: with a dead_letter block, every unparseable line
// lands on the dead-letter topic, byte for byte, with headers naming its source topic,
// partition, offset and reason, and the input is committed to its end.
func TestUnparseableLinesGoToTheDeadLetterTopic(t *testing.T) {
	const topic, dlq = "in.dl", "sluice.dead"
	c := kafkatest.Start(t, topic, 2, outTopic, shards)
	c.CreateTopic(t, dlq, 2)
	var records [][]byte
	bad := map[string]bool{}
	valid := 0
	for r := 0; r < 30; r++ {
		var b strings.Builder
		for i := 0; i < 20; i++ {
			fmt.Fprintf(&b, "put ok.metric %d %d host=h%d\n", nowSec, r*20+i, i%3)
			valid++
		}
		line := fmt.Sprintf("put broken.%d %d", r, nowSec)
		b.WriteString(line + "\n")
		bad[line] = true
		records = append(records, []byte(b.String()))
	}
	c.ProduceRecords(t, topic, records, time.Now())
	cfg := c.Config(t, topic, outTopic, shards, fmt.Sprintf("dead_letter { topic = %q }", dlq))
	p, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, time.Minute, "everything committed", func() bool {
		s := p.Stats()
		return s.DatapointsOut == int64(valid) && s.DeadLettered == int64(len(bad)) && len(c.Uncommitted(t, group, topic)) == 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := p.Stop(ctx)
	if s.RawInUse+s.ShardInUse+s.DeadLetterInUse != 0 {
		t.Fatalf("leaked batches: %+v", s)
	}
	if s.Dropped[messages.ReasonUnparseable] != int64(len(bad)) {
		t.Fatalf("unparseable = %d, want %d", s.Dropped[messages.ReasonUnparseable], len(bad))
	}
	// Where each source record landed, to check the offset headers.
	sources := map[string]string{} // line -> "partition/offset"
	for _, m := range c.ReadRecords(t, topic) {
		for _, l := range strings.Split(string(m.Value), "\n") {
			if bad[l] {
				sources[l] = fmt.Sprintf("%d/%d", m.Partition, m.Offset)
			}
		}
	}
	got := map[string]bool{}
	for _, m := range c.ReadRecords(t, dlq) {
		h := map[string]string{}
		for _, rh := range m.Headers {
			h[string(rh.Key)] = string(rh.Value)
		}
		line := string(m.Value)
		if !bad[line] {
			t.Fatalf("dead letter %q is not one of the bad lines", line)
		}
		if got[line] {
			t.Fatalf("dead letter %q written twice", line)
		}
		got[line] = true
		if h[actors.HeaderSourceTopic] != topic || h[actors.HeaderReason] != "unparseable" || h[actors.HeaderDetail] != "missing value" ||
			h[actors.HeaderSourcePartition]+"/"+h[actors.HeaderSourceOffset] != sources[line] {
			t.Fatalf("dead letter %q has headers %v; its source is %s/%s", line, h, topic, sources[line])
		}
	}
	if len(got) != len(bad) {
		t.Fatalf("%d of %d bad lines on the dead-letter topic", len(got), len(bad))
	}
}
