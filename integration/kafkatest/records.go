package kafkatest

// Test input and output: generated lines with what must arrive of them, producing them to a
// topic, and reading a topic back (records, decoded shard points, a tally per value).

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/messages/shard"
	"github.com/sluicehq/sluice/proto/prompb"
)

// ProduceRecords writes each value as one record with Kafka timestamp ts, spread over the
// topic's partitions.
func (c *Cluster) ProduceRecords(t testing.TB, topic string, values [][]byte, ts time.Time) {
	t.Helper()
	cfg := c.config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	cfg.Producer.MaxMessageBytes = MaxRecordBytes
	p, err := sarama.NewSyncProducer(c.Addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, v := range values {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(v), Timestamp: ts}); err != nil {
			t.Fatalf("produce %d bytes: %v", len(v), err)
		}
	}
}

// Expected describes generated input: what must arrive and what must be dropped.
type Expected struct {
	Lines int
	// Valid maps a datapoint's value (unique per line) to its line.
	Valid      map[int64]string
	Unparsable int
	InvalidNm  int
	Denylisted int
}

// Generate makes n OpenTSDB lines: one in 50 unparseable, one in 50 with an invalid name, one in
// 50 denylisted, the rest valid with unique values (the line number) over a few hundred series.
// Line i's timestamp is i ms after the first's, and the last is an hour old, so that however many
// lines a test asks for, none is in the future (max_future) or older than a day (max_age) for
// n up to tens of millions.
func Generate(n int) ([]string, *Expected) {
	base := time.Now().Add(-time.Hour).UnixMilli() - int64(n)
	lines := make([]string, n)
	for i := 0; i < n; i++ {
		switch lineKind(i) {
		case messages.ReasonUnparseable:
			lines[i] = "put broken.line " + strconv.Itoa(i)
		case messages.ReasonInvalidName:
			lines[i] = fmt.Sprintf("put bad?name %d %d host=h1", base+int64(i), i)
		case messages.ReasonDenylisted:
			lines[i] = fmt.Sprintf("put test.debug.m%d %d %d host=h1", i%3, base+int64(i), i)
		default:
			lines[i] = fmt.Sprintf("put app.metric%d %d %d host=web%d dc=us-east-1", i%20, base+int64(i), i, i%17)
		}
	}
	return lines, expect(lines)
}

// lineKind is why Generate's line i is dropped, or messages.NumReasons for a valid line.
func lineKind(i int) messages.Reason {
	switch i % 50 {
	case 7:
		return messages.ReasonUnparseable
	case 13:
		return messages.ReasonInvalidName
	case 21:
		return messages.ReasonDenylisted
	}
	return messages.NumReasons
}

// expect describes Generate's lines.
func expect(lines []string) *Expected {
	exp := &Expected{Lines: len(lines), Valid: make(map[int64]string, len(lines))}
	for i, l := range lines {
		switch lineKind(i) {
		case messages.ReasonUnparseable:
			exp.Unparsable++
		case messages.ReasonInvalidName:
			exp.InvalidNm++
		case messages.ReasonDenylisted:
			exp.Denylisted++
		default:
			exp.Valid[int64(i)] = l
		}
	}
	return exp
}

// Prefix describes the first n of Generate's lines, for a test that produced only those.
func Prefix(lines []string, n int) *Expected { return expect(lines[:n]) }

// Produce writes lines to topic, perRecord lines per Kafka record, spread over partitions.
func (c *Cluster) Produce(t testing.TB, topic string, lines []string, perRecord int) int {
	t.Helper()
	cfg := c.config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	p, err := sarama.NewSyncProducer(c.Addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var batch []*sarama.ProducerMessage
	records := 0
	for i := 0; i < len(lines); i += perRecord {
		end := min(i+perRecord, len(lines))
		batch = append(batch, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(strings.Join(lines[i:end], "\n") + "\n")})
		records++
		if len(batch) == 200 || end == len(lines) {
			if err := p.SendMessages(batch); err != nil {
				t.Fatalf("produce: %v", err)
			}
			batch = batch[:0]
		}
	}
	return records
}

// Point is one sample read back from the shard topic.
type Point struct {
	Partition int32
	Metric    string
	Labels    map[string]string
	Value     float64
	Timestamp int64
}

// ReadRecords reads every record of topic up to its current end.
func (c *Cluster) ReadRecords(t testing.TB, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	return c.readRecords(t, topic, sarama.ReadUncommitted, MaxRecordBytes)
}

// ReadCommittedRecords reads topic as a read_committed consumer sees it: the records of
// committed transactions, with sarama and the fetch size Sluice's readers use (1 MiB a
// partition). Each partition is read until its end or until nothing more comes for a few seconds
// (transaction markers and aborted records are never handed out).
//
// With much larger fetches (32 MiB a partition), this kfake build answered some fetches without
// the aborted transactions they overlapped, so that sarama and franz-go alike handed out the
// tail records of transactions the coordinator aborted after their producer was killed; at
// 1 MiB both filter them (docs/fleet.md).
func (c *Cluster) ReadCommittedRecords(t testing.TB, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	return c.readRecords(t, topic, sarama.ReadCommitted, 1<<20)
}

func (c *Cluster) readRecords(t testing.TB, topic string, isolation sarama.IsolationLevel, fetch int32) []*sarama.ConsumerMessage {
	t.Helper()
	cfg := c.config()
	cfg.Consumer.Fetch.Default = fetch
	cfg.Consumer.IsolationLevel = isolation
	client, err := sarama.NewClient(c.Addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	// The partitions side by side: each may end in an idle wait.
	got := make([][]*sarama.ConsumerMessage, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil || end == 0 {
				errs[i] = err
				return
			}
			pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				errs[i] = err
				return
			}
			defer pc.Close()
			for {
				select {
				case m := <-pc.Messages():
					got[i] = append(got[i], m)
					if m.Offset >= end-1 {
						return
					}
				case <-time.After(3 * time.Second):
					// Transaction markers and aborted records are never handed out: with them at
					// the end, the partition is read when nothing more comes.
					return
				}
			}
		}()
	}
	wg.Wait()
	var out []*sarama.ConsumerMessage
	for i := range parts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		out = append(out, got[i]...)
	}
	return out
}

// version is a shard record's remote-write protocol header ("" for 1.0, which has none).
func version(m *sarama.ConsumerMessage) string {
	for _, h := range m.Headers {
		if string(h.Key) == remotewrite.HeaderVersion {
			return string(h.Value)
		}
	}
	return ""
}

// readV2 decodes a remote-write 2.0 shard record with Sluice's own decoder (no 2.0 Go types are
// vendored here), checking each series' labels are sorted by name.
func readV2(t testing.TB, m *sarama.ConsumerMessage) []Point {
	t.Helper()
	var rows messages.Rows
	remotewrite.Parse(&rows, m.Value, 0)
	if len(rows.Bad) > 0 || !remotewrite.IsV2(mustSnappy(t, m.Value)) {
		t.Fatalf("partition %d offset %d: not a remote-write 2.0 request (%v)", m.Partition, m.Offset, rows.Bad)
	}
	var out []Point
	for _, d := range rows.Points {
		labels := map[string]string{"__name__": string(d.Metric)}
		for i, tg := range d.Tags {
			if i > 0 && string(d.Tags[i-1].Key) >= string(tg.Key) {
				t.Fatalf("labels not sorted: %v", d.Tags)
			}
			labels[string(tg.Key)] = string(tg.Value)
		}
		out = append(out, Point{Partition: m.Partition, Metric: string(d.Metric), Labels: labels, Value: d.Value, Timestamp: d.Timestamp})
	}
	return out
}

func mustSnappy(t testing.TB, b []byte) []byte {
	t.Helper()
	raw, err := snappy.Decode(nil, b)
	if err != nil {
		t.Fatalf("snappy: %v", err)
	}
	return raw
}

// ReadOutput reads every record of topic up to its current end, decodes each as a
// snappy-compressed remote-write WriteRequest and returns the samples. It fails the test on any
// record that does not decode, or whose key is not its partition number.
func (c *Cluster) ReadOutput(t testing.TB, topic string) []Point {
	t.Helper()
	return decodeOutput(t, c.ReadRecords(t, topic))
}

// ReadCommittedOutput is ReadOutput as a read_committed consumer sees the topic.
func (c *Cluster) ReadCommittedOutput(t testing.TB, topic string) []Point {
	t.Helper()
	return decodeOutput(t, c.ReadCommittedRecords(t, topic))
}

func decodeOutput(t testing.TB, recs []*sarama.ConsumerMessage) []Point {
	t.Helper()
	var out []Point
	for _, m := range recs {
		p := m.Partition
		if string(m.Key) != strconv.Itoa(int(p)) {
			t.Fatalf("record on partition %d has key %q", p, m.Key)
		}
		if version(m) == remotewrite.VersionV2 {
			out = append(out, readV2(t, m)...)
			continue
		}
		raw, err := snappy.Decode(nil, m.Value)
		if err != nil {
			t.Fatalf("partition %d offset %d: snappy: %v", p, m.Offset, err)
		}
		var wr prompb.WriteRequest
		if err := proto.Unmarshal(raw, &wr); err != nil {
			t.Fatalf("partition %d offset %d: protobuf: %v", p, m.Offset, err)
		}
		for _, ts := range wr.Timeseries {
			labels := map[string]string{}
			for i, l := range ts.Labels {
				if i > 0 && ts.Labels[i-1].Name >= l.Name {
					t.Fatalf("labels not sorted: %v", ts.Labels)
				}
				labels[l.Name] = l.Value
			}
			for _, s := range ts.Samples {
				out = append(out, Point{Partition: p, Metric: labels["__name__"], Labels: labels, Value: s.Value, Timestamp: s.Timestamp})
			}
		}
	}
	return out
}

// ShardOf computes the shard a read-back point belongs to, from its labels, independently of the
// pipeline's own key-building code path.
func ShardOf(p Point, shards int) int32 {
	dp := messages.Datapoint{Metric: []byte(p.Metric)}
	var keys []string
	for k := range p.Labels {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sortStrings(keys)
	for _, k := range keys {
		dp.Tags = append(dp.Tags, messages.Tag{Key: []byte(k), Value: []byte(p.Labels[k])})
	}
	return int32(shard.Jump(shard.Hash(shard.AppendSeriesKey(nil, &dp)), shards))
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Tally counts, per datapoint value in [0, n), how often it arrived on topic (values outside
// that range are counted in stray), and how many series sat on a partition other than their
// shard. It decodes without building per-point maps, for tests with a million datapoints.
func (c *Cluster) Tally(t testing.TB, topic string, shards, n int) (counts []uint16, stray, misplaced int) {
	t.Helper()
	return tally(t, c.ReadRecords(t, topic), shards, n)
}

// TallyCommitted is Tally as a read_committed consumer sees the topic.
func (c *Cluster) TallyCommitted(t testing.TB, topic string, shards, n int) (counts []uint16, stray, misplaced int) {
	t.Helper()
	return tally(t, c.ReadCommittedRecords(t, topic), shards, n)
}

func tally(t testing.TB, recs []*sarama.ConsumerMessage, shards, n int) (counts []uint16, stray, misplaced int) {
	t.Helper()
	counts = make([]uint16, n)
	for _, m := range recs {
		raw, err := snappy.Decode(nil, m.Value)
		if err != nil {
			t.Fatalf("partition %d offset %d: snappy: %v", m.Partition, m.Offset, err)
		}
		var wr prompb.WriteRequest
		if err := proto.Unmarshal(raw, &wr); err != nil {
			t.Fatalf("partition %d offset %d: protobuf: %v", m.Partition, m.Offset, err)
		}
		for _, ts := range wr.Timeseries {
			dp := messages.Datapoint{}
			for _, l := range ts.Labels { // sorted by name, so tags come out sorted by key
				if l.Name == "__name__" {
					dp.Metric = []byte(l.Value)
				} else {
					dp.Tags = append(dp.Tags, messages.Tag{Key: []byte(l.Name), Value: []byte(l.Value)})
				}
			}
			if int32(shard.Jump(shard.Hash(shard.AppendSeriesKey(nil, &dp)), shards)) != m.Partition {
				misplaced++
			}
			for _, s := range ts.Samples {
				if v := int(s.Value); v >= 0 && v < n && float64(v) == s.Value {
					counts[v]++
				} else {
					stray++
				}
			}
		}
	}
	return counts, stray, misplaced
}

// PoisonInput makes 40 records of 25 valid OpenTSDB lines each (a minute old) and, after the
// 18th, one poison record: a line whose metric starts with marker, which the faultinject build's
// SLUICE_FAULTS=poison=marker makes every worker fail on.
func PoisonInput(marker string) (records [][]byte, valid int, poison string) {
	ts := time.Now().Add(-time.Minute).Unix()
	for r := 0; r < 40; r++ {
		var b strings.Builder
		for i := 0; i < 25; i++ {
			fmt.Fprintf(&b, "put ok.metric %d %d host=h%d\n", ts, r*25+i, i%3)
			valid++
		}
		records = append(records, []byte(b.String()))
		if r == 17 {
			poison = fmt.Sprintf("put %s.metric %d 1 host=x\n", marker, ts)
			records = append(records, []byte(poison))
		}
	}
	return records, valid, poison
}
