package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
)

// TestGarbageNeverStopsThePipeline feeds a topic random binary, truncated lines, a 10 MB line and
// a record larger than a batch, each mixed with valid lines in the same records. The pipeline
// must keep running, count what it dropped, and deliver every valid line.
func TestGarbageNeverStopsThePipeline(t *testing.T) {
	const topic = "in.garbage"
	c := kafkatest.Start(t, topic, 3, outTopic, shards)
	r := rand.New(rand.NewPCG(7, 7))
	valid := map[float64]bool{}
	next := 0.0
	validLines := func(b *bytes.Buffer, n int) {
		for i := 0; i < n; i++ {
			fmt.Fprintf(b, "put app.ok %d %v host=h%d\n", nowSec, next, int(next)%9)
			valid[next] = true
			next++
		}
	}
	var records [][]byte
	for i := 0; i < 10; i++ { // random binary between valid lines
		var b bytes.Buffer
		validLines(&b, 20)
		junk := make([]byte, 4096)
		for j := range junk {
			junk[j] = byte(r.Uint32())
		}
		b.Write(junk)
		b.WriteString("\n")
		validLines(&b, 20)
		records = append(records, b.Bytes())
	}
	for i := 0; i < 10; i++ { // truncated lines
		var b bytes.Buffer
		validLines(&b, 10)
		b.WriteString("put app.ok 1700000000\nput app.ok\nput\nput app.ok 17000000 1 host=\nput app.ok 170")
		records = append(records, b.Bytes())
	}
	{ // a 10 MB line between valid lines
		var b bytes.Buffer
		validLines(&b, 100)
		b.WriteString("put huge.metric ")
		b.Write(bytes.Repeat([]byte("x"), 10<<20))
		b.WriteString("\n")
		validLines(&b, 100)
		records = append(records, b.Bytes())
	}
	{ // 3 MB of valid lines in one record: larger than a 1 MiB batch
		var b bytes.Buffer
		for b.Len() < 3<<20 {
			validLines(&b, 1000)
		}
		records = append(records, b.Bytes())
	}
	c.ProduceRecords(t, topic, records, time.Now())

	cfg := c.Config(t, topic, outTopic, shards, "")
	p, err := actors.New(cfg, kafkatest.Logger(t, "error"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 2*time.Minute, "every offset committed", func() bool {
		return p.Stats().DatapointsOut >= int64(len(valid)) && len(c.Uncommitted(t, group, topic)) == 0
	})
	alive := p.Alive()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := p.Stop(ctx)
	if alive["worker"] != cfg.Pipeline.Workers || alive["reader"] != cfg.Pipeline.Readers || s.Restarts != 0 {
		t.Fatalf("garbage disturbed the actors: alive %v, restarts %d", alive, s.Restarts)
	}
	if s.DatapointsOut != int64(len(valid)) {
		t.Fatalf("datapoints_out = %d, want %d", s.DatapointsOut, len(valid))
	}
	if s.Dropped[messages.ReasonLineTooLong] != 1 {
		t.Fatalf("line_too_long = %d, want 1 (the 10 MB line)", s.Dropped[messages.ReasonLineTooLong])
	}
	if s.Dropped[messages.ReasonUnparseable] < 50 {
		t.Fatalf("unparseable = %d; the truncated lines alone are 50", s.Dropped[messages.ReasonUnparseable])
	}
	if s.DatapointsIn != s.DatapointsOut+s.Dropped.Total() {
		t.Fatalf("in %d != out %d + dropped %d", s.DatapointsIn, s.DatapointsOut, s.Dropped.Total())
	}
	seen := map[float64]bool{}
	for _, pt := range c.ReadOutput(t, outTopic) {
		if !valid[pt.Value] || pt.Metric != "app.ok" {
			t.Fatalf("unexpected datapoint %+v", pt)
		}
		seen[pt.Value] = true
	}
	if len(seen) != len(valid) {
		t.Fatalf("%d of %d valid lines arrived", len(seen), len(valid))
	}
	if s.RawInUse != 0 || s.ShardInUse != 0 {
		t.Fatalf("leaked batches: %+v", s)
	}
}
