// Package config loads Sluice's HCL configuration.
//
// Loading is decode, then validate everything, then report every error at once, each with
// file:line:column and a source snippet. Default() is the one place that holds defaults;
// `sluice validate` and start-up both call Load.
package config

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/messages/formats"
)

// Config is the whole configuration. Fields tagged `hcl` are decoded from the file; untagged
// fields are derived from them by validation (parsed durations and sizes).
type Config struct {
	Log         *Log         `hcl:"log,block"`
	HTTP        *HTTP        `hcl:"http,block"`
	Kafka       *Kafka       `hcl:"kafka,block"`
	Inputs      []*Input     `hcl:"input,block"`
	Pipeline    *Pipeline    `hcl:"pipeline,block"`
	Supervisor  *Supervisor  `hcl:"supervisor,block"`
	Coordinator *Coordinator `hcl:"coordinator,block"`
	Validation  *Validation  `hcl:"validation,block"`
	Denylist    *Denylist    `hcl:"denylist,block"`
	Sharding    *Sharding    `hcl:"sharding,block"`
	Outputs     []*Output    `hcl:"output,block"`
	DeadLetter  *DeadLetter  `hcl:"dead_letter,block"`

	// Filename is the file the config came from ("" for Default()).
	Filename string
}

// Log configures logging.
type Log struct {
	Level  string `hcl:"level,optional"`
	Format string `hcl:"format,optional"` // auto, json or text
}

// HTTP configures the HTTP listener.
type HTTP struct {
	// Address is where /metrics, /healthz and /readyz are served.
	Address string `hcl:"address,optional"`
	// Pprof serves /debug/pprof/ too; off by default, as profiles reveal internals.
	Pprof bool `hcl:"pprof,optional"`
}

// Kafka configures the Kafka client shared by inputs and outputs.
type Kafka struct {
	Brokers  []string `hcl:"brokers,optional"`
	ClientID string   `hcl:"client_id,optional"`
	Version  string   `hcl:"version,optional"`
	// SessionTimeout is how long the group waits for a member that stopped heartbeating (one that
	// was killed) before giving its partitions to others; HeartbeatInterval must be well below it.
	SessionTimeoutRaw    string `hcl:"session_timeout,optional"`
	HeartbeatIntervalRaw string `hcl:"heartbeat_interval,optional"`
	// CommitInterval is how often consumed offsets (only those fully acknowledged by the output)
	// are committed.
	CommitIntervalRaw string `hcl:"commit_interval,optional"`
	// Balance is how the consumer group divides input partitions among members: "load" (by the
	// load each member measured, sticky where that does not hurt balance), "sticky", "range" or
	// "roundrobin".
	Balance string `hcl:"balance,optional"`
	// TLS and SASL secure every connection: inputs, outputs and dead letters alike.
	TLS  *KafkaTLS  `hcl:"tls,block"`
	SASL *KafkaSASL `hcl:"sasl,block"`

	KafkaVersion      sarama.KafkaVersion
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	CommitInterval    time.Duration
}

// KafkaTLS is `kafka { tls { ... } }`: TLS to the brokers, with the system's roots unless
// ca_file names others, and a client certificate when cert_file and key_file are set.
type KafkaTLS struct {
	CAFile             string `hcl:"ca_file,optional"`
	CertFile           string `hcl:"cert_file,optional"`
	KeyFile            string `hcl:"key_file,optional"`
	ServerName         string `hcl:"server_name,optional"`
	InsecureSkipVerify bool   `hcl:"insecure_skip_verify,optional"`

	// Config is built by validation from the files.
	Config *tls.Config
}

// KafkaSASL is `kafka { sasl { ... } }`. Take the password from the environment:
// password = env("SLUICE_KAFKA_PASSWORD"). It is never logged.
type KafkaSASL struct {
	Mechanism string `hcl:"mechanism,optional"` // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username  string `hcl:"username,optional"`
	Password  string `hcl:"password,optional"`
}

// GoString keeps the password out of %#v.
func (s KafkaSASL) GoString() string {
	return fmt.Sprintf("config.KafkaSASL{Mechanism:%q, Username:%q, Password:<redacted>}", s.Mechanism, s.Username)
}

// String keeps the password out of %v and %+v.
func (s KafkaSASL) String() string { return s.GoString() }

// SASLMechanisms are the SASL mechanisms kafka.sasl.mechanism accepts.
var SASLMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// Input is one `input "<format>"` block.
type Input struct {
	Format string   `hcl:"format,label"`
	Topics []string `hcl:"topics"`
	Group  string   `hcl:"group,optional"`
	// DefaultTags are added to every datapoint that lacks the key.
	DefaultTags map[string]string `hcl:"default_tags,optional"`
	// MetricPrefix is prepended to every metric name.
	MetricPrefix string `hcl:"metric_prefix,optional"`
	// Influx only: timestamp precision (ns, us, ms, s), the separator between measurement and
	// field names, and whether a field named "value" maps to the bare measurement name.
	Precision      string `hcl:"precision,optional"`
	FieldSeparator string `hcl:"field_separator,optional"`
	ValueFieldBare bool   `hcl:"value_field_bare,optional"`
}

// FormatOptions returns the input's decoding settings.
func (in *Input) FormatOptions() formats.Options {
	return formats.Options{DefaultTags: in.DefaultTags, MetricPrefix: in.MetricPrefix,
		InfluxPrecision: in.Precision, InfluxSeparator: in.FieldSeparator, InfluxBareValueField: in.ValueFieldBare}
}

// Pipeline sizes the actors and the batch pools.
type Pipeline struct {
	Readers int `hcl:"readers,optional"`
	Workers int `hcl:"workers,optional"`
	Writers int `hcl:"writers,optional"`

	// A RawBatch holds at most BatchRecords Kafka records in BatchBytes bytes; a reader sends a
	// partly filled batch after BatchLinger.
	BatchBytesRaw  string `hcl:"batch_bytes,optional"`
	BatchRecords   int    `hcl:"batch_records,optional"`
	BatchLingerRaw string `hcl:"batch_linger,optional"`
	// RawBatches is the size of the RawBatch pool (0: readers×4 + workers×2).
	RawBatches int `hcl:"raw_batches,optional"`
	// ShardBatchBytes is the arena size of a worker→writer batch; ShardBatches the pool size
	// (0: writers×8 + workers×4).
	ShardBatchBytesRaw string `hcl:"shard_batch_bytes,optional"`
	ShardBatches       int    `hcl:"shard_batches,optional"`
	ShutdownTimeoutRaw string `hcl:"shutdown_timeout,optional"`

	BatchBytes      int
	BatchLinger     time.Duration
	ShardBatchBytes int
	ShutdownTimeout time.Duration
}

// Supervisor sets the restart budget of the root actor's OneForOne strategy.
type Supervisor struct {
	MaxRestarts int    `hcl:"max_restarts,optional"`
	WithinRaw   string `hcl:"within,optional"`
	// Redeliveries is how often a batch whose worker failed is handed to another worker before
	// its records are dead-lettered (or, without a dead_letter topic, logged and counted as
	// poison) and acknowledged, so that one poison record never stalls a partition.
	Redeliveries int `hcl:"redeliveries,optional"`

	Within time.Duration
}

// Coordinator tunes the actor that routes input partitions to workers by measured load.
type Coordinator struct {
	// Enabled false routes each partition to a fixed worker by hash.
	Enabled     bool   `hcl:"enabled,optional"`
	IntervalRaw string `hcl:"interval,optional"`
	// A partition whose load exceeds HotFactor × a worker's fair share (total load / workers) is
	// spread over ⌈load / fair share⌉ workers, at most MaxSpread.
	HotFactor float64 `hcl:"hot_factor,optional"`
	MaxSpread int     `hcl:"max_spread,optional"`

	Interval time.Duration
}

// Validation sets the limits a datapoint must meet.
type Validation struct {
	MaxMetricLength   int    `hcl:"max_metric_length,optional"`
	MaxTagKeyLength   int    `hcl:"max_tag_key_length,optional"`
	MaxTagValueLength int    `hcl:"max_tag_value_length,optional"`
	MaxTags           int    `hcl:"max_tags,optional"`
	MaxAgeRaw         string `hcl:"max_age,optional"`
	MaxFutureRaw      string `hcl:"max_future,optional"`
	AllowNonFinite    bool   `hcl:"allow_non_finite,optional"`

	MaxAge    time.Duration
	MaxFuture time.Duration
}

// Denylist lists metric-name globs whose datapoints are dropped.
type Denylist struct {
	Globs []string `hcl:"globs,optional"`
	// File holds more globs, one per line, '#' starting a comment; a relative path is relative
	// to the config file. SIGHUP re-reads it with the config.
	File string `hcl:"file,optional"`

	// All is Globs followed by the file's globs.
	All []string
}

// Sharding sets how many TSDB shards series are spread over.
type Sharding struct {
	Shards int `hcl:"shards,optional"`
}

// Output is one `output "<type>" "<name>"` block.
type Output struct {
	Type        string `hcl:"type,label"`
	Name        string `hcl:"name,label"`
	Topic       string `hcl:"topic,optional"`
	Compression string `hcl:"compression,optional"`
	// A writer flushes when it holds FlushBytes of encoded series or after Linger.
	FlushBytesRaw string `hcl:"flush_bytes,optional"`
	LingerRaw     string `hcl:"linger,optional"`
	// NameMapping is "keep" (names pass through) or "prometheus" (characters a Prometheus name
	// cannot hold become '_').
	NameMappingRaw string `hcl:"name_mapping,optional"`

	FlushBytes       int
	Linger           time.Duration
	CompressionCodec sarama.CompressionCodec
	NameMapping      formats.NameMapping
}

// DeadLetter names the topic unparseable lines are written to, with headers saying where each
// came from and why it was rejected. Without it they are counted and logged only.
type DeadLetter struct {
	Topic string `hcl:"topic"`
}

// Default returns the configuration with every default filled in. It is the only place that
// holds defaults: Load decodes the file over it.
func Default() *Config {
	return &Config{
		Log:  &Log{Level: "info", Format: "auto"},
		HTTP: &HTTP{Address: "127.0.0.1:9464"},
		Kafka: &Kafka{Brokers: []string{"127.0.0.1:9092"}, ClientID: "sluice", Version: "3.6.0",
			SessionTimeoutRaw: "10s", HeartbeatIntervalRaw: "3s", CommitIntervalRaw: "1s",
			Balance: "load"},
		Pipeline: &Pipeline{
			Readers: 2, Workers: 4, Writers: 2,
			BatchBytesRaw: "1MiB", BatchRecords: 8192, BatchLingerRaw: "50ms",
			ShardBatchBytesRaw: "1MiB",
			ShutdownTimeoutRaw: "20s",
		},
		Supervisor:  &Supervisor{MaxRestarts: 10, WithinRaw: "1m", Redeliveries: 3},
		Coordinator: &Coordinator{Enabled: true, IntervalRaw: "5s", HotFactor: 1.5, MaxSpread: 8},
		Validation: &Validation{
			MaxMetricLength: 256, MaxTagKeyLength: 128, MaxTagValueLength: 256, MaxTags: 16,
			MaxAgeRaw: "24h", MaxFutureRaw: "10m",
		},
		Denylist: &Denylist{},
		Sharding: &Sharding{Shards: 16},
	}
}

// DefaultInputGroup is the consumer group of an input that names none.
const DefaultInputGroup = "sluice"

// defaultOutput fills an output block's defaults before it is decoded.
func defaultOutput() *Output {
	return &Output{Compression: "none", FlushBytesRaw: "1MiB", LingerRaw: "200ms", NameMappingRaw: "keep"}
}

// defaultInput fills an input block's defaults before it is decoded.
func defaultInput() *Input {
	return &Input{Group: DefaultInputGroup, Precision: "ns", FieldSeparator: "_"}
}

// PoolBudget is the memory the batch pools hold: raw_batches × batch_bytes +
// shard_batches × shard_batch_bytes. The process's memory is bounded by it, not by the input.
func (p *Pipeline) PoolBudget() int64 {
	return int64(p.RawBatches)*int64(p.BatchBytes) + int64(p.ShardBatches)*int64(p.ShardBatchBytes)
}
