package kafkaio

import (
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/config"
)

// What the Kafka consumer may hold per claimed partition, set on every group member's config so
// that the memory budget counts what really runs: a fetch of up to FetchBytes per partition
// being fed while the next one arrives, and ChannelBuffer records waiting in the partition's
// channel, each a ConsumerMessage of about MessageBytes referencing its fetch response.
const (
	FetchBytes    = 1 << 20
	ChannelBuffer = 64
	MessageBytes  = 256 // a ConsumerMessage, its headers and slice headers
)

// ConsumerConfig is the configuration of a group member for reader number reader (its static
// instance id's suffix); the caller adds the balance strategy.
func ConsumerConfig(k *config.Kafka, reader int) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = k.KafkaVersion
	c.ClientID = k.ClientID
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	// What the memory budget counts per claimed partition (actors/memory.go).
	c.Consumer.Fetch.Default = FetchBytes
	c.ChannelBufferSize = ChannelBuffer
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = k.CommitInterval
	// The rebalance timeout bounds how long a rebalance waits for members to join it, and so how
	// long a member may take to give up revoked partitions (actors.revokeDrain). It stays below the
	// session timeout (config validation warns otherwise): a broker that expires members while
	// they wait in JoinGroup or SyncGroup — kfake does, Kafka does not — then always ends the
	// wait before the session of a member in it runs out (docs/fleet.md).
	c.Consumer.Group.Rebalance.Timeout = k.RebalanceTimeout
	c.Consumer.Group.Session.Timeout = k.SessionTimeout
	c.Consumer.Group.Heartbeat.Interval = k.HeartbeatInterval
	// A JoinGroup or SyncGroup is answered only when the rebalance completes, up to the rebalance
	// timeout later; sarama reads every response with Net.ReadTimeout, so it must be longer, or
	// the member abandons its join and starts over (the Java client allows rebalance + 5 s).
	c.Net.ReadTimeout = max(c.Net.ReadTimeout, k.RebalanceTimeout+5*time.Second)
	if id := InstanceID(k, reader); id != "" {
		// Static membership: one id per reader, the same after a restart.
		c.Consumer.Group.InstanceId = id
	}
	Secure(c, k)
	return c
}

// ProducerConfig is the Kafka producer configuration for output o (nil: the dead-letter writer's).
func ProducerConfig(cfg *config.Config, o *config.Output) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = cfg.Kafka.KafkaVersion
	c.ClientID = cfg.Kafka.ClientID
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Net.MaxOpenRequests = 1
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	if o != nil {
		c.Producer.Compression = o.CompressionCodec
		c.Producer.MaxMessageBytes = max(c.Producer.MaxMessageBytes, o.FlushBytes*2)
	}
	c.Producer.Retry.Max = 5
	c.Producer.Flush.Messages = 1
	Secure(c, cfg.Kafka)
	return c
}

// ClientConfig is the base configuration of a tool's client (tail, loadgen, redrive, dlq): the
// kafka block's version and client id, and its TLS and SASL, as the pipeline's own clients have
// them. The tool adds what it does (producer acks, consumer errors).
func ClientConfig(k *config.Kafka) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = k.KafkaVersion
	c.ClientID = k.ClientID
	Secure(c, k)
	return c
}

// InstanceID is reader's static group instance id, "<instance_id>-<reader>", or "" without
// kafka.instance_id.
func InstanceID(k *config.Kafka, reader int) string {
	if k.InstanceID == "" {
		return ""
	}
	return k.InstanceID + "-" + strconv.Itoa(reader)
}
