package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
)

// TestInitialOffsetNewest: a new consumer group of an input with initial_offset = "newest" skips
// what its topic held before its first start and reads what is produced after; the default,
// "oldest", reads the topic's whole retention (every other test relies on that).
func TestInitialOffsetNewest(t *testing.T) {
	const in, out = "io.in", "io.out"
	c := kafkatest.Start(t, in, 2, out, 2)
	now := time.Now().Unix()
	line := func(metric string, i int) string { return fmt.Sprintf("put %s %d %d host=h%d", metric, now, i, i%7) }
	var old []string
	for i := range 1000 {
		old = append(old, line("before.start", i))
	}
	c.Produce(t, in, old, 100)
	cfg := c.ConfigFor(t, fmt.Sprintf("input \"opentsdb\" {\n  topics = [%q]\n  group = \"io\"\n  initial_offset = \"newest\"\n}\n", in), out, 2, "", "")
	p, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Produce small batches until some arrive: the first ones may predate the partitions'
	// assignment, and those are skipped too, which is what newest means.
	produced := 0
	kafkatest.WaitFor(t, time.Minute, "datapoints produced after the start to arrive", func() bool {
		var batch []string
		for i := range 10 {
			batch = append(batch, line("after.start", produced+i))
		}
		c.Produce(t, in, batch, 10)
		produced += 10
		time.Sleep(100 * time.Millisecond)
		return p.Stats().DatapointsOut > 0
	})
	// (Not "every offset committed": a partition that got nothing after the start has no offset to
	// commit, and its old records stay behind it, unread.)
	s := stopClean(t, p)
	if s.DatapointsIn == 0 || s.DatapointsIn > int64(produced) {
		t.Fatalf("read %d datapoints; %d were produced after the start and 1000 before", s.DatapointsIn, produced)
	}
	for _, pt := range c.ReadOutput(t, out) {
		if strings.HasPrefix(pt.Metric, "before.") {
			t.Fatalf("a datapoint produced before the group's first start was read: %+v", pt)
		}
	}
	t.Logf("%d of %d datapoints produced after the start read; none of the 1000 before", s.DatapointsIn, produced)
}
