package sluicetest

// The crash harness the crash tests (integration/crash) and the fleet tests (integration/fleet)
// share: their pipeline's config, agents that keep producing, and the zero-loss check of the
// shard topic.

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/integration/kafkatest"
)

// The topics, group and shard count the crash and fleet tests' configurations use.
const (
	OutTopic = "metrics.shards"
	Group    = "sluice-test"
	Shards   = 8
)

// CrashHCL is the crash and fleet tests' pipeline: OpenTSDB from topic in their group, to their shard
// topic, test.** denylisted; kafka and output add lines to those blocks.
func CrashHCL(broker, topic, kafka, output string) string {
	return fmt.Sprintf(`
kafka {
  brokers = [%q]
%s}
input "opentsdb" {
  topics = [%q]
  group  = %q
}
output "kafka" "tsdb" {
  topic  = %q
  shards = %d
%s}
denylist { globs = ["test.**"] }
`, broker, kafka, topic, Group, OutTopic, Shards, output)
}

// DefaultConfig writes a config with every default, reading topic (OpenTSDB) in the crash tests'
// group and writing the crash tests' shard topic, and returns its path and what it loads to.
func DefaultConfig(t *testing.T, broker, topic string) (string, *config.Config) {
	t.Helper()
	return DefaultConfigOutput(t, broker, topic, "")
}

// DefaultConfigOutput is DefaultConfig with output settings added to the output block.
func DefaultConfigOutput(t *testing.T, broker, topic, output string) (string, *config.Config) {
	t.Helper()
	path := WriteConfig(t, CrashHCL(broker, topic, "", output))
	cfg, err := config.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

// ProduceOver writes lines to topic from a goroutine, chunk lines every 200 ms (perRecord lines a
// record), as agents keep writing while a test kills and restarts; the channel closes when all
// are written.
func ProduceOver(t *testing.T, c *kafkatest.Cluster, topic string, lines []string, chunk, perRecord int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(lines); i += chunk {
			c.Produce(t, topic, lines[i:min(i+chunk, len(lines))], perRecord)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return done
}

// CheckZeroLoss asserts every valid datapoint arrived on its shard and returns the duplicates.
func CheckZeroLoss(t *testing.T, c *kafkatest.Cluster, exp *kafkatest.Expected, topic string) (checked, dups int) {
	t.Helper()
	counts, stray, misplaced := c.Tally(t, OutTopic, Shards, exp.Lines)
	return CheckCounts(t, c, exp, topic, counts, stray, misplaced)
}

// CheckCounts is CheckZeroLoss on a tally of the output.
func CheckCounts(t *testing.T, c *kafkatest.Cluster, exp *kafkatest.Expected, topic string, counts []uint16, stray, misplaced int) (checked, dups int) {
	t.Helper()
	if misplaced > 0 {
		t.Fatalf("%d series on a partition other than their shard", misplaced)
	}
	for v, n := range counts {
		_, valid := exp.Valid[int64(v)]
		switch {
		case valid && n == 0:
			t.Fatalf("datapoint %d (%s) was lost", v, exp.Valid[int64(v)])
		case !valid && n > 0:
			t.Fatalf("datapoint %d should have been dropped but arrived", v)
		case n > 1:
			dups += int(n) - 1
		}
	}
	if stray > 0 {
		t.Fatalf("%d datapoints with values that were never produced", stray)
	}
	if u := c.Uncommitted(t, Group, topic); len(u) > 0 {
		t.Fatalf("input not committed to its end: %v", u)
	}
	return len(exp.Valid), dups
}
