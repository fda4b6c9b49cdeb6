package integration

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/opentsdb"
)

const poisonMarker = "POISON"

// poisonDecoder panics on every record that holds the marker, on every attempt.
func poisonDecoder(dst *messages.Rows, record []byte, _ int64) {
	if bytes.Contains(record, []byte(poisonMarker)) {
		panic("injected: this record always fails")
	}
	opentsdb.Parse(dst, record, 0)
}

func runPoison(t *testing.T, extra string, dlq string) (actors.Summary, *kafkatest.Cluster, int, string) {
	const topic = "in.poison"
	c := kafkatest.Start(t, topic, 2, outTopic, shards)
	if dlq != "" {
		c.CreateTopic(t, dlq, 1)
	}
	records, valid, poison := kafkatest.PoisonInput(poisonMarker)
	c.ProduceRecords(t, topic, records, time.Now())
	cfg := c.Config(t, topic, outTopic, shards, `supervisor {
  max_restarts = 50
  within = "1m"
  redeliveries = 2
}
pipeline {
  workers = 3
  batch_linger = "200ms"
}
`+extra)
	p, err := actors.New(cfg, kafkatest.Logger(t, "off"), poisonDecoder)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, time.Minute, "every offset committed", func() bool {
		return p.Stats().DatapointsOut >= int64(valid) && len(c.Uncommitted(t, group, topic)) == 0
	})
	alive := p.Alive()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := p.Stop(ctx)
	if alive["worker"] != 3 {
		t.Fatalf("worker count changed: %v", alive)
	}
	// 1 failure + 2 redeliveries, all failing, before the record is isolated.
	if s.Restarts < 3 {
		t.Fatalf("restarts = %d, want at least 3", s.Restarts)
	}
	if s.DatapointsOut != int64(valid) {
		t.Fatalf("datapoints_out = %d, want %d: the poison record cost other records", s.DatapointsOut, valid)
	}
	if s.Dropped[messages.ReasonPoison] != 1 {
		t.Fatalf("poison drops = %d, want 1", s.Dropped[messages.ReasonPoison])
	}
	if s.RawInUse+s.ShardInUse+s.DeadLetterInUse != 0 {
		t.Fatalf("leaked batches: %+v", s)
	}
	return s, c, valid, poison
}

// TestPoisonRecordIsDeadLettered: a record that fails its worker on every attempt is isolated
// after `redeliveries` attempts and written to the dead-letter topic with its source position and
// the failure; every other record is delivered and the partition commits to its end.
func TestPoisonRecordIsDeadLettered(t *testing.T) {
	const dlq = "sluice.dead"
	_, c, _, poison := runPoison(t, fmt.Sprintf("dead_letter { topic = %q }", dlq), dlq)
	var dead []string
	for _, m := range c.ReadRecords(t, dlq) {
		h := map[string]string{}
		for _, rh := range m.Headers {
			h[string(rh.Key)] = string(rh.Value)
		}
		if h[actors.HeaderReason] != "poison" || !strings.Contains(h[actors.HeaderDetail], "injected: this record always fails") ||
			h[actors.HeaderSourceTopic] != "in.poison" || h[actors.HeaderSourceOffset] == "" {
			t.Fatalf("dead letter headers %v", h)
		}
		dead = append(dead, string(m.Value))
	}
	if len(dead) != 1 || dead[0] != poison {
		t.Fatalf("dead-letter topic holds %q, want exactly the poison record %q", dead, poison)
	}
	// The offset header names the poison record's real position.
	for _, m := range c.ReadRecords(t, "in.poison") {
		if string(m.Value) == poison {
			for _, rh := range c.ReadRecords(t, dlq)[0].Headers {
				if string(rh.Key) == actors.HeaderSourceOffset && string(rh.Value) != fmt.Sprint(m.Offset) {
					t.Fatalf("offset header %s, record is at %d", rh.Value, m.Offset)
				}
			}
		}
	}
}

// TestPoisonRecordWithoutDeadLetterTopic: without a dead-letter topic the record is logged and
// counted as poison, and the partition still moves on.
func TestPoisonRecordWithoutDeadLetterTopic(t *testing.T) {
	runPoison(t, "", "")
}

// TestEscalationWhenEveryBatchFails: when workers fail on every batch, one exhausts its restart
// budget; the pipeline reports a fatal error naming the actor kind and the failure, and commits
// nothing, since nothing was delivered.
func TestEscalationWhenEveryBatchFails(t *testing.T) {
	const topic = "in.escalate"
	c := kafkatest.Start(t, topic, 2, outTopic, shards)
	lines, _ := kafkatest.Generate(2000)
	c.Produce(t, topic, lines, 50)
	cfg := c.Config(t, topic, outTopic, shards, `supervisor {
  max_restarts = 2
  within = "1m"
  redeliveries = 1000
}`)
	p, err := actors.New(cfg, kafkatest.Logger(t, "off"), func(*messages.Rows, []byte, int64) { panic("injected: every batch fails") })
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.Fatal():
		if !strings.Contains(err.Error(), "worker actor worker-") || !strings.Contains(err.Error(), "injected: every batch fails") {
			t.Fatalf("fatal error does not name the actor kind and the failure: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no escalation within a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := p.Stop(ctx)
	if s.DatapointsOut != 0 {
		t.Fatalf("datapoints_out = %d with a decoder that always fails", s.DatapointsOut)
	}
	committed, _ := c.Offsets(t, group, topic)
	for part, off := range committed {
		if off > 0 {
			t.Fatalf("partition %d committed offset %d although nothing was delivered", part, off)
		}
	}
}
