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
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/xdg-go/scram"

	"github.com/sluicehq/sluice/config"
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

// StartTLSSCRAM is Start with both: a TLS listener using serverTLS (the test's clients use
// clientTLS) and SASL/SCRAM-SHA-512 with user/pass a superuser, as a managed Kafka (MSK's port
// 9096) is secured.
func StartTLSSCRAM(t testing.TB, in string, inParts int, out string, outParts int, serverTLS, clientTLS *tls.Config, user, pass string) *Cluster {
	t.Helper()
	return start(t, in, inParts, out, outParts, func(c *sarama.Config) {
		c.Net.TLS.Enable, c.Net.TLS.Config = true, clientTLS
		c.Net.SASL.Enable, c.Net.SASL.Handshake = true, true
		c.Net.SASL.User, c.Net.SASL.Password = user, pass
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{} }
	}, kfake.TLS(serverTLS), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", user, pass))
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

// SaramaConfig is a client configuration for this cluster (its version and security).
func (c *Cluster) SaramaConfig() *sarama.Config {
	cfg := c.config()
	cfg.Producer.Return.Successes = true
	return cfg
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
	cfg, err := config.Load("test.hcl", []byte(c.ConfigSource(inputs, out, shards, outputExtra, extra)))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// ConfigSource is the text of the config ConfigFor loads, for a test that writes it to a file.
func (c *Cluster) ConfigSource(inputs, out string, shards int, outputExtra, extra string) string {
	return fmt.Sprintf(`
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
