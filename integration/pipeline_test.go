package integration

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
	kafkaout "github.com/sluicehq/sluice/output/kafka"
)

const (
	inTopic  = "metrics.opentsdb"
	outTopic = "metrics.shards"
	group    = "sluice-test"
	shards   = 8
)

const sizes = `pipeline {
  readers = 2
  workers = 3
  writers = 2
  batch_bytes = "64KiB"
  shard_batch_bytes = "64KiB"
  batch_linger = "10ms"
}
`

// checkOutput asserts the end state: every valid datapoint arrived (exactly once when exact) on
// the partition of its shard, nothing invalid or denylisted arrived, the drop counters match, the
// committed offsets equal the end offsets and no batch is left out of its pool.
func checkOutput(t *testing.T, c *kafkatest.Cluster, exp *kafkatest.Expected, s actors.Summary, exact bool) {
	t.Helper()
	checkPoints(t, c, c.ReadOutput(t, outTopic), exp, s, exact)
}

// checkPoints is checkOutput on the points read.
func checkPoints(t *testing.T, c *kafkatest.Cluster, pts []kafkatest.Point, exp *kafkatest.Expected, s actors.Summary, exact bool) {
	t.Helper()
	seen := map[int64]int{}
	for _, p := range pts {
		line, ok := exp.Valid[int64(p.Value)]
		if !ok {
			t.Fatalf("datapoint that should have been dropped arrived: %+v", p)
		}
		if want := kafkatest.ShardOf(p, shards); p.Partition != want {
			t.Fatalf("datapoint %v (%s) on partition %d, its shard is %d", p.Value, line, p.Partition, want)
		}
		seen[int64(p.Value)]++
	}
	missing, dup := 0, 0
	for v := range exp.Valid {
		switch n := seen[v]; {
		case n == 0:
			missing++
		case n > 1:
			dup++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d valid datapoints never arrived", missing, len(exp.Valid))
	}
	if exact && dup > 0 {
		t.Fatalf("%d datapoints arrived more than once in a run without failures", dup)
	}
	if got := s.Dropped[messages.ReasonUnparseable]; got != int64(exp.Unparsable) {
		t.Errorf("unparseable drops = %d, want %d", got, exp.Unparsable)
	}
	if got := s.Dropped[messages.ReasonInvalidName]; got != int64(exp.InvalidNm) {
		t.Errorf("invalid_name drops = %d, want %d", got, exp.InvalidNm)
	}
	if got := s.Dropped[messages.ReasonDenylisted]; got != int64(exp.Denylisted) {
		t.Errorf("denylisted drops = %d, want %d", got, exp.Denylisted)
	}
	if u := c.Uncommitted(t, group, inTopic); len(u) > 0 {
		t.Errorf("partitions not committed to their end (partition: committed/end): %v", u)
	}
	if s.RawInUse != 0 || s.ShardInUse != 0 {
		t.Errorf("batches leaked from their pools: raw %d, shard %d", s.RawInUse, s.ShardInUse)
	}
}

func done(p *actors.Pipeline, exp *kafkatest.Expected) func() bool {
	return func() bool {
		s := p.Stats()
		return s.DatapointsIn >= int64(exp.Lines) && s.DatapointsOut+s.Dropped[messages.ReasonUnparseable]+
			s.Dropped[messages.ReasonInvalidName]+s.Dropped[messages.ReasonDenylisted] >= int64(exp.Lines)
	}
}

func stop(t *testing.T, p *actors.Pipeline) actors.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := p.Stop(ctx)
	if again := p.Stop(ctx); !reflect.DeepEqual(again, s) {
		t.Fatalf("a second Stop returned %+v, the first %+v", again, s)
	}
	if s.TicketsOpen != 0 || s.TicketsLeaked != 0 {
		t.Fatalf("after the stop %d batch tickets are open and %d shares were released without completion", s.TicketsOpen, s.TicketsLeaked)
	}
	return s
}

func TestPipelineEndToEnd(t *testing.T) {
	c := kafkatest.Start(t, inTopic, 6, outTopic, shards)
	lines, exp := kafkatest.Generate(200_000)
	c.Produce(t, inTopic, lines, 100)

	p, err := actors.New(c.Config(t, inTopic, outTopic, shards, sizes), kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 2*time.Minute, "every line to be written or dropped", done(p, exp))
	s := stop(t, p)
	if !s.Drained {
		t.Fatalf("pipeline did not drain: %+v", s)
	}
	if s.DatapointsIn != int64(exp.Lines) {
		t.Fatalf("datapoints_in = %d, want %d", s.DatapointsIn, exp.Lines)
	}
	if s.DatapointsOut != int64(len(exp.Valid)) {
		t.Fatalf("datapoints_out = %d, want %d", s.DatapointsOut, len(exp.Valid))
	}
	checkOutput(t, c, exp, s, true)
}

// TestKafkaOutputRemoteWrite2: with protocol = "2.0" every shard record is an
// io.prometheus.write.v2.Request with the version header, and carries every valid datapoint to
// its shard exactly as 1.0 does.
func TestKafkaOutputRemoteWrite2(t *testing.T) {
	c := kafkatest.Start(t, inTopic, 6, outTopic, shards)
	lines, exp := kafkatest.Generate(50_000)
	c.Produce(t, inTopic, lines, 100)
	input := fmt.Sprintf("input \"opentsdb\" {\n  topics = [%q]\n  group = \"sluice-test\"\n}\n", inTopic)
	p, err := actors.New(c.ConfigFor(t, input, outTopic, shards, `protocol = "2.0"`, sizes), kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, 2*time.Minute, "every line to be written or dropped", done(p, exp))
	s := stop(t, p)
	if !s.Drained || s.DatapointsOut != int64(len(exp.Valid)) {
		t.Fatalf("drained %v, datapoints_out %d, want %d", s.Drained, s.DatapointsOut, len(exp.Valid))
	}
	for _, m := range c.ReadRecords(t, outTopic) {
		if len(m.Headers) != 1 || string(m.Headers[0].Key) != kafkaout.HeaderRemoteWriteVersion || string(m.Headers[0].Value) != "2.0.0" {
			t.Fatalf("shard record headers %v, want %s: 2.0.0", m.Headers, kafkaout.HeaderRemoteWriteVersion)
		}
	}
	checkOutput(t, c, exp, s, true) // ReadOutput decodes 2.0 records by their header
}

// TestPipelineStopHalfwayAndResume takes the SIGTERM path in the middle of the input, starts a new
// pipeline in the same group, and expects the same end state: what the first one committed is
// not read again, and what it did not is.
func TestPipelineStopHalfwayAndResume(t *testing.T) {
	c := kafkatest.Start(t, inTopic, 6, outTopic, shards)
	lines, exp := kafkatest.Generate(200_000)
	c.Produce(t, inTopic, lines, 100)
	cfg := c.Config(t, inTopic, outTopic, shards, sizes)

	first, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, time.Minute, "a third of the input", func() bool { return first.Stats().DatapointsIn > int64(exp.Lines/3) })
	s1 := stop(t, first)
	if !s1.Drained || s1.RawInUse != 0 || s1.ShardInUse != 0 {
		t.Fatalf("first pipeline did not stop cleanly: %+v", s1)
	}
	if s1.DatapointsIn >= int64(exp.Lines) {
		t.Fatalf("first pipeline read everything (%d) before the stop; the test proves nothing", s1.DatapointsIn)
	}
	committed, _ := c.Offsets(t, group, inTopic)
	var committedSum int64
	for _, o := range committed {
		committedSum += max(o, 0)
	}
	if committedSum == 0 {
		t.Fatal("the stopped pipeline committed nothing")
	}

	second, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rest := &kafkatest.Expected{Lines: exp.Lines - int(s1.DatapointsIn)}
	kafkatest.WaitFor(t, 2*time.Minute, "the rest of the input", func() bool {
		return len(c.Uncommitted(t, group, inTopic)) == 0
	})
	s2 := stop(t, second)
	if s2.DatapointsIn < int64(rest.Lines) {
		t.Fatalf("second pipeline read %d datapoints, the first left %d", s2.DatapointsIn, rest.Lines)
	}
	total := s2
	total.Dropped = messages.DropCounts{}
	for i := range total.Dropped {
		total.Dropped[i] = s1.Dropped[i] + s2.Dropped[i]
	}
	// Counters may count a line twice when a batch was read again; the drop checks then need
	// exactly-once reading, which a drained stop gives.
	checkOutput(t, c, exp, total, false)
}

// TestStartRejectsOutputWithTooFewPartitions: every shard needs its own output partition, and a
// pipeline that would write some shards nowhere must refuse to start, saying why.
func TestStartRejectsOutputWithTooFewPartitions(t *testing.T) {
	c := kafkatest.Start(t, inTopic, 2, outTopic, 4)
	p, err := actors.New(c.Config(t, inTopic, outTopic, 8, ""), kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Start(context.Background())
	if err == nil {
		p.Stop(context.Background())
		t.Fatal("started with 8 shards on a 4-partition output topic")
	}
	if !strings.Contains(err.Error(), `topic "metrics.shards" has 4 partitions, but shards = 8`) {
		t.Fatalf("unclear error: %v", err)
	}
}
