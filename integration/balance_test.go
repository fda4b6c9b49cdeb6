package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
)

// skewedProducer writes Generate's lines in order, linesPerRecord to a record, every tick
// weight[p] records to partition p, until stopped: a live stream whose partitions carry unequal
// load.
type skewedProducer struct {
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
	produced int // lines written, valid after done is closed
	err      error
}

func startSkewedProducer(t *testing.T, c *kafkatest.Cluster, topic string, lines []string, weights []int, linesPerRecord int, tick time.Duration) *skewedProducer {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = kafkatest.Version
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(c.Addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sp := &skewedProducer{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sp.done)
		defer prod.Close()
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		var batch []*sarama.ProducerMessage
		for {
			select {
			case <-sp.stopCh:
				return
			case <-ticker.C:
			}
			batch = batch[:0]
			next := sp.produced
			for p, w := range weights {
				for range w {
					end := next + linesPerRecord
					if end > len(lines) {
						sp.err = fmt.Errorf("ran out of lines after %d; generate more", next)
						return
					}
					batch = append(batch, &sarama.ProducerMessage{Topic: topic, Partition: int32(p),
						Value: sarama.StringEncoder(strings.Join(lines[next:end], "\n") + "\n")})
					next = end
				}
			}
			if err := prod.SendMessages(batch); err != nil {
				sp.err = err
				return
			}
			sp.produced = next
		}
	}()
	t.Cleanup(sp.stop)
	return sp
}

func (sp *skewedProducer) stop() {
	sp.stopOnce.Do(func() { close(sp.stopCh) })
	<-sp.done
}

// TestLoadBalanceAcrossMembers: three processes join one group, one after another, while
// partitions carry 6:3:3:1:1:1:1:1:1 of a live stream. The load-aware strategy must hand them
// out so that the members' loads are within 25 % of each other. The weights make that
// impossible by partition count (3 each puts the 6 with two more partitions, at least 8 against
// at most 5), so only a plan that uses the members' measured loads passes. Across the three
// rebalances no datapoint may be lost, duplicated or left uncommitted.
func TestLoadBalanceAcrossMembers(t *testing.T) {
	weights := []int{6, 3, 3, 1, 1, 1, 1, 1, 1}
	c := kafkatest.Start(t, inTopic, len(weights), outTopic, shards)
	// 9000 lines a second; 900k lines last 100 s, far beyond what the test needs.
	lines, _ := kafkatest.Generate(900_000)
	prod := startSkewedProducer(t, c, inTopic, lines, weights, 10, 20*time.Millisecond)

	cfg := c.Config(t, inTopic, outTopic, shards, `pipeline {
  readers = 1
  workers = 2
  writers = 2
  batch_bytes = "64KiB"
  shard_batch_bytes = "64KiB"
  batch_linger = "10ms"
}
coordinator { interval = "1s" }
`)
	if cfg.Kafka.Balance != "load" {
		t.Fatalf("kafka.balance defaults to %q, want load", cfg.Kafka.Balance)
	}
	// Members learn of a rebalance at their next heartbeat.
	cfg.Kafka.HeartbeatInterval = 300 * time.Millisecond
	cfg.Kafka.SessionTimeout = 3 * time.Second

	var ps []*actors.Pipeline
	var members map[string][]int32
	for n := 1; n <= 3; n++ {
		p, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		members = waitForMembers(t, c, n, len(weights))
		if n == 3 {
			break
		}
		// Let every member measure its partitions for a few coordinator intervals before the
		// next one joins, so the members' reports carry steady loads, not the backlog a
		// partition's new owner starts with.
		settled := time.Now().Add(4 * time.Second)
		kafkatest.WaitFor(t, time.Minute, "every member to measure its partitions", func() bool {
			return time.Now().After(settled) && measuredAll(ps, members)
		})
		if n == 1 {
			checkMeasured(t, ps[0].Loads(), weights)
		}
	}

	memberLoad := map[string]int{}
	for id, parts := range members {
		for _, part := range parts {
			memberLoad[id] += weights[part]
		}
	}
	loads := make([]int, 0, len(memberLoad))
	for _, l := range memberLoad {
		loads = append(loads, l)
	}
	lo, hi := slices.Min(loads), slices.Max(loads)
	t.Logf("after the third join: assignment %v, loads %v (weights %v)", members, loads, weights)
	if float64(hi) > 1.25*float64(lo) {
		t.Errorf("members' loads %v are not within 25 %% of each other (assignment %v, partition weights %v)", loads, members, weights)
	}

	prod.stop()
	if prod.err != nil {
		t.Fatalf("producer: %v", prod.err)
	}
	exp := kafkatest.Prefix(lines, prod.produced)
	kafkatest.WaitFor(t, 2*time.Minute, "every partition committed to its end", func() bool {
		return len(c.Uncommitted(t, group, inTopic)) == 0
	})
	var total actors.Summary
	for _, p := range ps {
		s := stop(t, p)
		if !s.Drained {
			t.Errorf("a member did not drain: %+v", s)
		}
		total.DatapointsIn += s.DatapointsIn
		total.DatapointsOut += s.DatapointsOut
		total.RawInUse += s.RawInUse
		total.ShardInUse += s.ShardInUse
		for i := range total.Dropped {
			total.Dropped[i] += s.Dropped[i]
		}
	}
	if total.DatapointsIn != int64(exp.Lines) {
		t.Errorf("the members read %d datapoints together, %d were produced: a batch was read twice or not at all", total.DatapointsIn, exp.Lines)
	}
	checkOutput(t, c, exp, total, true)
}

// waitForMembers waits until the group is stable with n members that share all parts
// partitions, and returns the assignment.
func waitForMembers(t *testing.T, c *kafkatest.Cluster, n, parts int) map[string][]int32 {
	t.Helper()
	var members map[string][]int32
	kafkatest.WaitFor(t, time.Minute, fmt.Sprintf("a stable group of %d members", n), func() bool {
		var state string
		state, members = c.Assignment(t, group, inTopic)
		if state != "Stable" || len(members) != n {
			return false
		}
		seen := map[int32]bool{}
		for _, ps := range members {
			if len(ps) == 0 {
				return false
			}
			for _, p := range ps {
				seen[p] = true
			}
		}
		return len(seen) == parts
	})
	return members
}

// measuredAll reports whether the pipelines' coordinators together measured every assigned
// partition.
func measuredAll(ps []*actors.Pipeline, members map[string][]int32) bool {
	measured := map[int32]bool{}
	for _, p := range ps {
		for _, l := range p.Loads() {
			if l.Topic == inTopic && l.BytesPerSec > 0 {
				measured[l.Partition] = true
			}
		}
	}
	for _, parts := range members {
		for _, p := range parts {
			if !measured[p] {
				return false
			}
		}
	}
	return true
}

// checkMeasured asserts that the coordinator's measured loads follow the producer's weights: the
// heaviest partition measures well above a light one.
func checkMeasured(t *testing.T, loads []actors.PartitionLoad, weights []int) {
	t.Helper()
	by := map[int32]float64{}
	for _, l := range loads {
		by[l.Partition] = l.BytesPerSec
	}
	t.Logf("measured loads (bytes/s) of a lone member: %v", by)
	heavy, light := by[0], by[int32(len(weights)-1)]
	want := float64(weights[0]) / float64(weights[len(weights)-1])
	if light <= 0 || heavy/light < want/2 || heavy/light > want*2 {
		t.Errorf("partition 0 (weight %d) measured %.0f B/s, partition %d (weight %d) %.0f B/s: ratio not near %.0f",
			weights[0], heavy, len(weights)-1, weights[len(weights)-1], light, want)
	}
}
