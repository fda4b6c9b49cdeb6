package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/proto/prompb"
)

// transactions writes each batch of values to topic in a Kafka transaction of its own, committed
// or, where abort says so, aborted.
func transactions(t *testing.T, c *kafkatest.Cluster, topic string, batches [][][]byte, abort []bool) {
	t.Helper()
	pc := c.SaramaConfig()
	pc.Producer.Idempotent = true
	pc.Producer.RequiredAcks = sarama.WaitForAll
	pc.Net.MaxOpenRequests = 1
	pc.Producer.Transaction.ID = "isolation-test." + topic
	prod, err := sarama.NewSyncProducer(c.Addrs, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i, values := range batches {
		if err := prod.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(v)}); err != nil {
				t.Fatal(err)
			}
		}
		if abort[i] {
			err = prod.AbortTxn()
		} else {
			err = prod.CommitTxn()
		}
		if err != nil {
			t.Fatalf("ending transaction %d: %v", i, err)
		}
	}
}

// TestIsolationLevel: records of an aborted transaction are not read by an input with the
// default isolation_level (read_committed), which a chained stage reading an exactly-once shard
// topic relies on, and are read with read_uncommitted; `sluice tail` reads a shard topic the same
// way, read_committed unless -isolation says otherwise.
func TestIsolationLevel(t *testing.T) {
	const in, out, shardTopic = "iso.in", "iso.out", "iso.shard"
	c := kafkatest.Start(t, in, 2, out, 2)
	c.CreateTopic(t, shardTopic, 1)
	now := time.Now().Unix()
	lines := func(metric string) [][]byte {
		var out [][]byte
		for i := range 50 {
			out = append(out, fmt.Appendf(nil, "put %s %d %d host=h%d", metric, now, i, i%5))
		}
		return out
	}
	transactions(t, c, in, [][][]byte{lines("committed.one"), lines("aborted"), lines("committed.two")}, []bool{false, true, false})

	for _, tc := range []struct {
		level string
		want  int64
	}{{"", 100}, {"read_uncommitted", 150}} {
		setting := ""
		if tc.level != "" {
			setting = fmt.Sprintf("isolation_level = %q", tc.level)
		}
		cfg := c.ConfigFor(t, fmt.Sprintf("input \"opentsdb\" {\n  topics = [%q]\n  group = \"iso-%s\"\n  %s\n}\n", in, tc.level, setting), out, 2, "", "")
		p, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Every record is read and committed once the group stands one short of each partition's
		// end: the last offset is the final transaction's commit marker, which a consumer is never
		// handed (so it is never marked).
		group := "iso-" + tc.level
		kafkatest.WaitFor(t, time.Minute, group+" to commit every record", func() bool {
			committed, end := c.Offsets(t, group, in)
			for part, e := range end {
				if committed[part] < e-1 {
					return false
				}
			}
			return true
		})
		s := stop(t, p)
		if s.DatapointsIn != tc.want {
			t.Errorf("isolation_level %q: %d datapoints read, want %d", tc.level, s.DatapointsIn, tc.want)
		}
	}

	// A shard topic: remote-write records, committed values 0..9, aborted 100..109.
	record := func(v float64) []byte {
		wr := prompb.WriteRequest{Timeseries: []*prompb.TimeSeries{{
			Labels:  []*prompb.Label{{Name: "__name__", Value: "shard_metric"}},
			Samples: []*prompb.Sample{{Value: v, Timestamp: now * 1000}},
		}}}
		raw, err := proto.Marshal(&wr)
		if err != nil {
			t.Fatal(err)
		}
		return snappy.Encode(nil, raw)
	}
	var committed, aborted [][]byte
	for i := range 10 {
		committed = append(committed, record(float64(i)))
		aborted = append(aborted, record(float64(100+i)))
	}
	transactions(t, c, shardTopic, [][][]byte{aborted, committed}, []bool{true, false})
	tail := func(n int, extra ...string) string {
		code, so, se := sluiceTool(t, append([]string{"tail", "-brokers", c.Addrs[0], "-topic", shardTopic, "-from", "oldest", "-n", fmt.Sprint(n)}, extra...)...)
		if code != 0 {
			t.Fatalf("sluice tail %v: exit %d\n%s", extra, code, se)
		}
		return so
	}
	if got := tail(10); strings.Contains(got, " 100 ") || strings.Count(got, "shard_metric") != 10 {
		t.Errorf("sluice tail (read_committed) printed aborted records, or not the 10 committed ones:\n%s", got)
	}
	if got := tail(20, "-isolation", "read_uncommitted"); !strings.Contains(got, " 100 ") {
		t.Errorf("sluice tail -isolation read_uncommitted did not print the aborted records:\n%s", got)
	}
}
