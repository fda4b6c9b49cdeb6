package actors

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/aggregate"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
)

// TestStateRoundTrip: running totals written as state records and read back carry a partition on
// exactly, labels that are not UTF-8 included (JSON strings would have changed them, and the
// totals' keys with them: a total would then restart from 0 beside its old self).
func TestStateRoundTrip(t *testing.T) {
	spec, err := aggregate.NewSpec("10s", nil, []string{"pod"}, []string{aggregate.Total, aggregate.HistogramBucket})
	if err != nil {
		t.Fatal(err)
	}
	series := func(pod string) []aggregate.Label {
		return []aggregate.Label{{Name: "__name__", Value: "c"}, {Name: "pod", Value: pod}, {Name: "svc", Value: "a\xff\xfe\x00b"}}
	}
	type out map[string]float64
	feed := func(p *aggregate.Partition, from, to int, got out) {
		for i := from; i < to; i++ {
			ts := int64(i) * 1000
			for pod := range 3 {
				p.Add(int64(i), series(strconv.Itoa(pod)), ts, float64(i*(pod+1)), func(end int64, name string, labels []aggregate.Label, v float64) {
					k := name + "@" + strconv.FormatInt(end, 10)
					for _, l := range labels {
						k += "," + l.Name + "=" + l.Value
					}
					got[k] = v
				})
			}
		}
	}
	straight := out{}
	p := aggregate.NewPartition(spec, 0, aggregate.Checkpoint{MaxTs: aggregate.NoCheckpoint})
	feed(p, 0, 200, straight)

	q := aggregate.NewPartition(spec, 0, aggregate.Checkpoint{MaxTs: aggregate.NoCheckpoint})
	feed(q, 0, 95, out{})
	cp := q.Checkpoint(95)
	if len(cp.Totals) == 0 {
		t.Fatal("no running totals at the checkpoint: the test tests nothing")
	}
	msgs, err := stateRecords("t", 0, 95, cp.Totals)
	if err != nil {
		t.Fatal(err)
	}
	cp.Totals = map[string]aggregate.TotalState{}
	for _, m := range msgs {
		b, _ := m.Value.Encode()
		entries, err := decodeState(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			cp.Totals[strconv.Itoa(len(cp.Totals))] = e
		}
	}
	resumed := out{}
	r := aggregate.NewPartition(spec, 0, cp)
	feed(r, int(cp.Offset), 200, resumed)
	for k, v := range resumed {
		if straight[k] != v {
			t.Fatalf("%q = %g after the round trip, %g without it", k, v, straight[k])
		}
	}
	if len(resumed) == 0 {
		t.Fatal("nothing emitted after the restart")
	}
}

// TestStageBTakesAllocatingNothing: stage B takes an aggregation record's datapoints with no
// allocation per datapoint once its series are known (a method value made per datapoint did
// allocate: one per datapoint).
func TestStageBTakesAllocatingNothing(t *testing.T) {
	cfg, err := config.Load("t.hcl", []byte(`input "opentsdb" { topics = ["in"] }
output "kafka" "o" { topic = "o" }
aggregate "a" {
  match    = ["x"]
  interval = "1h"
  without  = ["pod"]
  outputs  = ["sum_samples", "count_samples", "max", "last", "increase", "total"]
}`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Aggregates[0]
	g := &stageB{h: &claimHandler{r: &reader{d: &readerDeps{cfg: cfg}}}, c: &claim{},
		dec: &topicDecoder{drops: &[messages.NumReasons]atomic.Int64{}, agg: &aggregateCounters{}},
		p:   aggregate.NewPartition(a.Spec, a.Lateness.Milliseconds(), aggregate.Checkpoint{MaxTs: aggregate.NoCheckpoint}), markedAt: time.Now().Add(time.Hour)}
	g.emitFn = g.emit
	base := time.Now().Truncate(time.Hour).UnixMilli()
	off := int64(0)
	record := func() *sarama.ConsumerMessage {
		var req []byte
		for i := range 100 {
			tags := []messages.Tag{{Key: []byte("job"), Value: []byte("j")}, {Key: []byte("pod"), Value: []byte{'p', byte('0' + i%10)}}}
			lab := remotewrite.AppendLabels(nil, []byte("x"), tags)
			ts := base + off*100 + int64(i)
			req = remotewrite.AppendSeriesLabels(req, len(lab)+remotewrite.SampleSize(ts), lab)
			req = remotewrite.AppendSample(req, float64(off), ts)
		}
		off++
		return &sarama.ConsumerMessage{Offset: off, Value: remotewrite.Compress(nil, req)}
	}
	for range 50 {
		g.take(record())
	}
	msgs := make([]*sarama.ConsumerMessage, 200)
	for i := range msgs {
		msgs[i] = record()
	}
	i := 0
	if n := testing.AllocsPerRun(len(msgs)-1, func() { g.take(msgs[i]); i++ }); n != 0 {
		t.Fatalf("%v allocations per record of 100 datapoints", n)
	}
}
