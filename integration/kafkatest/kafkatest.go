// Package kafkatest runs a real Kafka-protocol broker (kfake) in the test process and gives tests
// what they need around a Sluice pipeline: produce OpenTSDB lines with sarama, read and decode the
// shard topic, and read the group's committed offsets. No part of Kafka is mocked.
package kafkatest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"
	"github.com/klauspost/compress/snappy"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/xdg-go/scram"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/shard"
	"github.com/sluicehq/sluice/proto/prompb"
)

// Version is the Kafka protocol version the tests speak.
var Version = sarama.V3_6_0_0

// Cluster is a kfake cluster with an input and an output topic.
type Cluster struct {
	*kfake.Cluster
	Addrs []string
	// secure applies the cluster's authentication to the test's own clients.
	secure func(*sarama.Config)
	// KafkaHCL goes inside the kafka block of the configs Config and ConfigFor make (tls, sasl).
	KafkaHCL string
}

// Start runs a cluster with topic in (inParts partitions) and out (outParts partitions).
func Start(t testing.TB, in string, inParts int, out string, outParts int) *Cluster {
	t.Helper()
	return start(t, in, inParts, out, outParts, nil)
}

// StartSCRAM is Start with SASL/SCRAM-SHA-512 required, and user/pass a superuser the test's
// own clients log in as.
func StartSCRAM(t testing.TB, in string, inParts int, out string, outParts int, user, pass string) *Cluster {
	t.Helper()
	return start(t, in, inParts, out, outParts, func(c *sarama.Config) {
		c.Net.SASL.Enable, c.Net.SASL.Handshake = true, true
		c.Net.SASL.User, c.Net.SASL.Password = user, pass
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{} }
	}, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", user, pass))
}

// StartTLS is Start with a TLS listener using serverTLS; the test's own clients use clientTLS.
func StartTLS(t testing.TB, in string, inParts int, out string, outParts int, serverTLS, clientTLS *tls.Config) *Cluster {
	t.Helper()
	return start(t, in, inParts, out, outParts, func(c *sarama.Config) {
		c.Net.TLS.Enable, c.Net.TLS.Config = true, clientTLS
	}, kfake.TLS(serverTLS))
}

func start(t testing.TB, in string, inParts int, out string, outParts int, secure func(*sarama.Config), opts ...kfake.Opt) *Cluster {
	// Short group timeouts let tests replace a killed member in a second, not Kafka's six.
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kc := &Cluster{Cluster: c, Addrs: c.ListenAddrs(), secure: secure}
	for topic, n := range map[string]int{in: inParts, out: outParts} {
		kc.CreateTopic(t, topic, n)
	}
	return kc
}

// MaxRecordBytes is the largest record the test topics accept (garbage tests send 10 MB lines).
const MaxRecordBytes = 32 << 20

// CreateTopic creates a topic that accepts records up to MaxRecordBytes.
func (c *Cluster) CreateTopic(t testing.TB, topic string, partitions int) {
	t.Helper()
	c.CreateTopicMax(t, topic, partitions, MaxRecordBytes)
}

// CreateTopicMax creates a topic that accepts records up to maxRecordBytes.
func (c *Cluster) CreateTopicMax(t testing.TB, topic string, partitions, maxRecordBytes int) {
	t.Helper()
	adm, err := sarama.NewClusterAdmin(c.Addrs, c.config())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	maxBytes := strconv.Itoa(maxRecordBytes)
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"max.message.bytes": &maxBytes}}, false); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

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

func (c *Cluster) config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = Version
	if c.secure != nil {
		c.secure(cfg)
	}
	return cfg
}

// scramClient is the test clients' SCRAM-SHA-512 conversation (github.com/xdg-go/scram).
type scramClient struct{ conv *scram.ClientConversation }

func (s *scramClient) Begin(user, pass, authz string) error {
	c, err := scram.SHA512.NewClient(user, pass, authz)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *scramClient) Done() bool                            { return s.conv.Done() }

// Config returns a valid Sluice config for this cluster that reads OpenTSDB from in, adjusted by
// hcl snippets appended to the base (later blocks of the same kind are not allowed, so pass
// whole blocks the base lacks).
func (c *Cluster) Config(t testing.TB, in, out string, shards int, extra string) *config.Config {
	t.Helper()
	return c.ConfigFor(t, fmt.Sprintf("input \"opentsdb\" {\n  topics = [%q]\n  group = \"sluice-test\"\n}\n", in), out, shards, "", extra)
}

// ConfigFor is Config with the input block(s) and output settings given.
func (c *Cluster) ConfigFor(t testing.TB, inputs, out string, shards int, outputExtra, extra string) *config.Config {
	t.Helper()
	src := fmt.Sprintf(`
log { level = "warn" }
kafka {
  brokers = [%q]
  version = "3.6.0"
  %s
}
%s
output "kafka" "tsdb" {
  topic  = %q
  shards = %d
  linger = "20ms"
  %s
}
validation {
  max_age    = "24h"
  max_future = "10m"
}
denylist { globs = ["test.**"] }
%s`, c.Addrs[0], c.KafkaHCL, inputs, out, shards, outputExtra, extra)
	cfg, err := config.Load("test.hcl", []byte(src))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// Logger returns a logger that writes through t.
func Logger(t testing.TB, level string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "sluice", Level: hclog.LevelFromString(level), Output: testWriter{t}})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// RecordingLogger is Logger that also keeps everything it logs, for assertions on log output.
func RecordingLogger(t testing.TB, level string) (hclog.Logger, *Recorder) {
	r := &Recorder{}
	return hclog.New(&hclog.LoggerOptions{Name: "sluice", Level: hclog.LevelFromString(level),
		Output: io.MultiWriter(testWriter{t}, r)}), r
}

// Recorder is a goroutine-safe log sink.
type Recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *Recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

// String returns everything logged so far.
func (r *Recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
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
	cfg := c.config()
	cfg.Consumer.Fetch.Default = MaxRecordBytes
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
	var out []*sarama.ConsumerMessage
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		if end == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for m := range pc.Messages() {
			out = append(out, m)
			if m.Offset == end-1 {
				break
			}
		}
		pc.Close()
	}
	return out
}

// ReadOutput reads every record of topic up to its current end, decodes each as a
// snappy-compressed remote-write WriteRequest and returns the samples. It fails the test on any
// record that does not decode, or whose key is not its partition number.
func (c *Cluster) ReadOutput(t testing.TB, topic string) []Point {
	t.Helper()
	var out []Point
	for _, m := range c.ReadRecords(t, topic) {
		p := m.Partition
		if string(m.Key) != strconv.Itoa(int(p)) {
			t.Fatalf("record on partition %d has key %q", p, m.Key)
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

// Offsets returns, per partition of topic, the group's committed offset and the end offset.
func (c *Cluster) Offsets(t testing.TB, group, topic string) (committed, end map[int32]int64) {
	t.Helper()
	adm, err := sarama.NewClusterAdmin(c.Addrs, c.config())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	resp, err := adm.ListConsumerGroupOffsets(group, nil)
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		resp, err = &sarama.OffsetFetchResponse{}, nil // no member has joined yet: nothing committed
	}
	if err != nil {
		t.Fatal(err)
	}
	client, err := sarama.NewClient(c.Addrs, c.config())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	committed, end = map[int32]int64{}, map[int32]int64{}
	for _, p := range parts {
		committed[p] = -1
		if b := resp.GetBlock(topic, p); b != nil {
			committed[p] = b.Offset
		}
		if end[p], err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			t.Fatal(err)
		}
	}
	return committed, end
}

// Uncommitted lists the partitions of topic whose committed offset (for group) is not the end
// offset, as "partition: committed/end"; empty means everything is committed.
func (c *Cluster) Uncommitted(t testing.TB, group, topic string) []string {
	t.Helper()
	committed, end := c.Offsets(t, group, topic)
	var out []string
	for p, e := range end {
		if committed[p] != e {
			out = append(out, fmt.Sprintf("%d: %d/%d", p, committed[p], e))
		}
	}
	return out
}

// WaitFor polls cond every 50 ms until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// Tally counts, per datapoint value in [0, n), how often it arrived on topic (values outside
// that range are counted in stray), and how many series sat on a partition other than their
// shard. It decodes without building per-point maps, for tests with a million datapoints.
func (c *Cluster) Tally(t testing.TB, topic string, shards, n int) (counts []uint16, stray, misplaced int) {
	t.Helper()
	counts = make([]uint16, n)
	for _, m := range c.ReadRecords(t, topic) {
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

// Assignment describes group as the broker sees it: its state and, per member (by member ID),
// the partitions of topic assigned to it.
func (c *Cluster) Assignment(t testing.TB, group, topic string) (state string, members map[string][]int32) {
	t.Helper()
	adm, err := sarama.NewClusterAdmin(c.Addrs, c.config())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	groups, err := adm.DescribeConsumerGroups([]string{group})
	if err != nil {
		t.Fatal(err)
	}
	members = map[string][]int32{}
	for _, g := range groups {
		if g.GroupId != group {
			continue
		}
		state = g.State
		for id, m := range g.Members {
			a, err := m.GetMemberAssignment()
			if err != nil {
				t.Fatalf("member %s: assignment: %v", id, err)
			}
			if a == nil {
				members[id] = nil
				continue
			}
			members[id] = a.Topics[topic]
		}
	}
	return state, members
}
