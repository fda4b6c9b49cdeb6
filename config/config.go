// Package config loads Sluice's HCL configuration.
//
// Loading is decode, then validate everything, then report every error at once, each with
// file:line:column and a source snippet. Default() and deriveDefaults, beside it, are the only
// places that hold defaults; `sluice validate` and start-up both call Load.
package config

import (
	"crypto/tls"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/relabel"
)

// Config is the whole configuration. Fields tagged `hcl` are decoded from the file; untagged
// fields are derived from them by validation (parsed durations and sizes).
type Config struct {
	Log         *Log         `hcl:"log,block" reload:"live"`
	HTTP        *HTTP        `hcl:"http,block" reload:"restart"`
	Kafka       *Kafka       `hcl:"kafka,block" reload:"restart"`
	Inputs      []*Input     `hcl:"input,block" reload:"fields"`
	Pipeline    *Pipeline    `hcl:"pipeline,block" reload:"restart"`
	Supervisor  *Supervisor  `hcl:"supervisor,block" reload:"restart"`
	Coordinator *Coordinator `hcl:"coordinator,block" reload:"fields"`
	Validation  *Validation  `hcl:"validation,block" reload:"live"`
	Denylist    *Denylist    `hcl:"denylist,block" reload:"live"`
	Limits      *Limits      `hcl:"limits,block" reload:"live"`
	Shedding    *Shedding    `hcl:"shedding,block" reload:"live"`
	Outputs     []*Output    `hcl:"output,block" reload:"fields"`
	Routes      []*Route     `hcl:"route,block" reload:"fields"`
	Aggregates  []*Aggregate `hcl:"aggregate,block" reload:"restart"`
	DeadLetter  *DeadLetter  `hcl:"dead_letter,block" reload:"restart"`
	Control     *Control     `hcl:"control,block" reload:"restart"`

	// Filename is the file the config came from ("" for Default()).
	Filename string `reload:"-"`
	// warnings are diagnostics that do not stop the config from loading (an output no route
	// uses); Warnings returns them.
	warnings *Error
}

// Warnings returns the loaded config's warnings, or nil.
func (c *Config) Warnings() *Error { return c.warnings }

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
	// RebalanceTimeout is how long a rebalance waits for the members to join it; a member that
	// is giving partitions up has until then to have their in-flight batches acknowledged and
	// committed. Kept below session_timeout, so that no member waits in a rebalance longer than
	// its session (docs/fleet.md says why).
	RebalanceTimeoutRaw string `hcl:"rebalance_timeout,optional"`
	// InstanceID turns on static membership (KIP-345): each reader joins as "<instance_id>-<n>",
	// and a restarted process with the same id gets its partitions back without a rebalance,
	// if it returns within session_timeout. Only for deployments whose members keep an identity.
	InstanceID string `hcl:"instance_id,optional"`
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
	RebalanceTimeout  time.Duration
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
	Config *tls.Config `reload:"-"`
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
	Format string   `hcl:"format,label" reload:"restart"`
	Topics []string `hcl:"topics" reload:"restart"`
	Group  string   `hcl:"group,optional" reload:"restart"`
	// InitialOffset is where a consumer group with no committed offset for a partition starts:
	// "oldest" (the partition's whole retention: nothing produced before the first start is
	// lost) or "newest" (only what is produced from then on). Once offsets are committed they win.
	InitialOffset string `hcl:"initial_offset,optional" reload:"restart"`
	// IsolationLevel is what the input's consumers read of a topic written in Kafka transactions:
	// "read_committed" (only committed transactions' records, as a chained Sluice stage must
	// read a shard topic written with delivery = "exactly_once") or "read_uncommitted" (every
	// record, aborted ones too). Topics written without transactions read the same either way.
	IsolationLevel string `hcl:"isolation_level,optional" reload:"restart"`
	// DefaultTags are added to every datapoint that lacks the key.
	DefaultTags map[string]string `hcl:"default_tags,optional" reload:"live"`
	// MetricPrefix is prepended to every metric name.
	MetricPrefix string `hcl:"metric_prefix,optional" reload:"live"`
	// Influx only: timestamp precision (ns, us, ms, s), the separator between measurement and
	// field names, and whether a field named "value" maps to the bare measurement name.
	Precision      string `hcl:"precision,optional" reload:"restart"`
	FieldSeparator string `hcl:"field_separator,optional" reload:"restart"`
	ValueFieldBare bool   `hcl:"value_field_bare,optional" reload:"restart"`
	// OTLP only: the records' encoding (otlp_proto, what the Collector's kafkaexporter writes by
	// default; otlp_json; auto: either), how metric names are translated (prometheus: unit and
	// type suffixes; keep) and the resource attributes promoted to labels beside job and instance.
	Encoding                  string   `hcl:"encoding,optional" reload:"restart"`
	Translation               string   `hcl:"translation,optional" reload:"restart"`
	PromoteResourceAttributes []string `hcl:"promote_resource_attributes,optional" reload:"restart"`
	// Relabel rules rewrite or drop the input's series before validation, the denylist, budgets,
	// routing and sharding (docs/relabel.md).
	Relabel []*Relabel `hcl:"relabel,block" reload:"live"`
	// AllowNonFinite keeps or drops NaN and ±Inf values of this input; unset, the Prometheus
	// family (prometheus, remote_write, otlp) keeps them, as Prometheus does, and the other
	// formats follow validation.allow_non_finite. The staleness marker is always kept.
	AllowNonFinite *bool `hcl:"allow_non_finite,optional" reload:"restart"`
}

// Isolation levels (Input.IsolationLevel).
const (
	IsolationReadCommitted   = "read_committed"
	IsolationReadUncommitted = "read_uncommitted"
)

// SaramaIsolation is the input's isolation level as sarama names it.
func (in *Input) SaramaIsolation() sarama.IsolationLevel {
	if in.IsolationLevel == IsolationReadUncommitted {
		return sarama.ReadUncommitted
	}
	return sarama.ReadCommitted
}

// Relabel is one `relabel { ... }` block: a Prometheus relabel_config with its names and
// defaults (deriveDefaults), so that a rule can be copied from a Prometheus or vmagent config.
type Relabel struct {
	Action       string   `hcl:"action,optional"`
	SourceLabels []string `hcl:"source_labels,optional"`
	Separator    string   `hcl:"separator,optional"`
	Regex        string   `hcl:"regex,optional"`
	TargetLabel  string   `hcl:"target_label,optional"`
	Replacement  string   `hcl:"replacement,optional"`
	Modulus      uint64   `hcl:"modulus,optional"`

	// Written says which settings the block wrote (Prometheus refuses some for some actions,
	// even when written with their default value); set by validation.
	Written map[string]bool
}

// Spec is the rule as the relabel package compiles it.
func (r *Relabel) Spec() relabel.Spec {
	return relabel.Spec{Action: r.Action, SourceLabels: r.SourceLabels, SourceSet: r.Written["source_labels"],
		Separator: r.Separator, Regex: r.Regex, RegexSet: r.Written["regex"], TargetLabel: r.TargetLabel,
		Replacement: r.Replacement, Modulus: r.Modulus}
}

// RelabelSpecs returns the rules as the relabel package compiles them (nil for none).
func RelabelSpecs(rules []*Relabel) []relabel.Spec {
	var out []relabel.Spec
	for _, r := range rules {
		out = append(out, r.Spec())
	}
	return out
}

// FormatOptions returns the input's decoding settings.
func (in *Input) FormatOptions() formats.Options {
	return formats.Options{DefaultTags: in.DefaultTags, MetricPrefix: in.MetricPrefix,
		InfluxPrecision: in.Precision, InfluxSeparator: in.FieldSeparator, InfluxBareValueField: in.ValueFieldBare,
		OTLPTranslation: in.Translation, OTLPPromote: in.PromoteResourceAttributes, OTLPEncoding: in.Encoding}
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
	// MemoryLimitRaw is the Go soft memory limit; "0" sets it from the computed memory budget
	// (twice the working set: the GC's headroom). GOMEMLIMIT in the environment wins over both.
	MemoryLimitRaw string `hcl:"memory_limit,optional"`

	BatchBytes      int
	MemoryLimit     int64
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
	Enabled     bool   `hcl:"enabled,optional" reload:"restart"`
	IntervalRaw string `hcl:"interval,optional" reload:"live"`
	// A partition whose load exceeds HotFactor × a worker's fair share (total load / workers) is
	// spread over ⌈load / fair share⌉ workers, at most MaxSpread.
	HotFactor float64 `hcl:"hot_factor,optional" reload:"live"`
	MaxSpread int     `hcl:"max_spread,optional" reload:"live"`

	Interval time.Duration `reload:"-"`
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

// Delivery guarantees (Output.Delivery).
const (
	DeliveryAtLeastOnce = "at_least_once"
	DeliveryExactlyOnce = "exactly_once"
)

// ExactlyOnce returns the output with delivery = "exactly_once", or nil.
func (c *Config) ExactlyOnce() *Output {
	for _, o := range c.Outputs {
		if o.Delivery == DeliveryExactlyOnce {
			return o
		}
	}
	return nil
}

// Output types.
const (
	OutputKafka       = "kafka"
	OutputRemoteWrite = "remote_write"
	OutputOTLP        = "otlp"
)

// Output is one `output "<type>" "<name>"` block: "kafka" (shard records to a topic, one
// partition per shard), "remote_write" (Prometheus remote write over HTTP) or "otlp" (OTLP/HTTP
// protobuf metrics, as the Collector's otlphttp exporter sends them). The HTTP outputs share
// their settings (urls, headers, credentials, timeout, concurrency, batch sizes, breaker).
type Output struct {
	Type string `hcl:"type,label" reload:"restart"`
	Name string `hcl:"name,label" reload:"restart"`

	// Kafka: the shard topic, its compression, and how many shards series are spread over (0:
	// the topic's partition count, looked up at start).
	Topic       string `hcl:"topic,optional" reload:"restart"`
	Compression string `hcl:"compression,optional" reload:"restart"`
	Shards      int    `hcl:"shards,optional" reload:"restart"`

	// Remote write and OTLP: replicas of one receiver (requests rotate over the healthy ones), extra
	// headers, credentials, the per-request timeout, how many requests run in parallel (the
	// output's shards: each has one request in flight) and how big one request may be.
	URLs             []string          `hcl:"urls,optional" reload:"restart"`
	Headers          map[string]string `hcl:"headers,optional" reload:"restart"`
	BasicAuth        *BasicAuth        `hcl:"basic_auth,block" reload:"restart"`
	BearerToken      string            `hcl:"bearer_token,optional" reload:"restart"`
	TimeoutRaw       string            `hcl:"timeout,optional" reload:"restart"`
	Concurrency      int               `hcl:"concurrency,optional" reload:"restart"`
	MaxBatchSamples  int               `hcl:"max_batch_samples,optional" reload:"restart"`
	MaxBatchBytesRaw string            `hcl:"max_batch_bytes,optional" reload:"restart"`
	Breaker          *Breaker          `hcl:"breaker,block" reload:"restart"`
	// ProbeAtStart sends each endpoint an empty request at start (it stores nothing) and fails
	// the start when the receiver refuses it or cannot be reached (rwclient.Probe).
	ProbeAtStart bool `hcl:"probe_at_start,optional" reload:"restart"`

	// Retry bounds how failed writes are retried.
	Retry *Retry `hcl:"retry,block" reload:"restart"`
	// Each of a writer's shards flushes when it holds its share of FlushBytes (FlushBytes / the
	// writer's shards) of encoded series, or when its oldest waited Linger.
	FlushBytesRaw string `hcl:"flush_bytes,optional" reload:"restart"`
	LingerRaw     string `hcl:"linger,optional" reload:"restart"`
	// NameMapping is "keep" (names pass through) or "prometheus" (characters a Prometheus name
	// cannot hold become '_').
	NameMappingRaw string `hcl:"name_mapping,optional" reload:"restart"`
	// Protocol is the remote-write protocol the output speaks: "1.0" (prometheus.WriteRequest)
	// or "2.0" (io.prometheus.write.v2.Request, with a symbols table). A Kafka output's records
	// then carry a sluice-remote-write-version header.
	Protocol string `hcl:"protocol,optional" reload:"restart"`
	// Delivery is a Kafka output's guarantee: "at_least_once" (a crash writes what followed the
	// last offset commit again) or "exactly_once" (Kafka transactions: the shard records and the
	// input offsets they cover commit together, once per commit interval; docs/fleet.md).
	Delivery string `hcl:"delivery,optional" reload:"restart"`
	// Relabel rules rewrite or drop the series this output receives, after routing and name
	// mapping, without touching what other outputs receive (docs/relabel.md).
	Relabel []*Relabel `hcl:"relabel,block" reload:"live"`

	FlushBytes       int                     `reload:"-"`
	Linger           time.Duration           `reload:"-"`
	CompressionCodec sarama.CompressionCodec `reload:"-"`
	NameMapping      formats.NameMapping     `reload:"-"`
	Timeout          time.Duration           `reload:"-"`
	MaxBatchBytes    int                     `reload:"-"`
}

// BasicAuth is a remote-write output's `basic_auth { username, password }`; take the password
// from env(). It is never printed.
type BasicAuth struct {
	Username string `hcl:"username"`
	Password string `hcl:"password"`
}

// GoString keeps the password out of %#v.
func (a BasicAuth) GoString() string {
	return fmt.Sprintf("config.BasicAuth{Username:%q, Password:<redacted>}", a.Username)
}

// String keeps the password out of %v and %+v.
func (a BasicAuth) String() string { return a.GoString() }

// Retry is an output's `retry { ... }`: exponential backoff from min_backoff to max_backoff with
// full jitter (a receiver's Retry-After is honoured up to max_backoff); a write still failing
// after max_elapsed is given up on, dead-lettered like a permanent error (0: never give up).
type Retry struct {
	MinBackoffRaw string `hcl:"min_backoff,optional"`
	MaxBackoffRaw string `hcl:"max_backoff,optional"`
	MaxElapsedRaw string `hcl:"max_elapsed,optional"`

	MinBackoff, MaxBackoff, MaxElapsed time.Duration
}

// Breaker is a remote-write output's per-endpoint circuit breaker: after Failures consecutive
// failures an endpoint gets no requests for CoolDown, then one probe request decides whether it
// closes again.
type Breaker struct {
	Failures    int    `hcl:"failures,optional"`
	CoolDownRaw string `hcl:"cool_down,optional"`

	CoolDown time.Duration
}

// Route is one `route { match, outputs }` block. Routes are checked in order and the first whose
// match globs (the denylist's syntax) match a datapoint's metric name decides which outputs it
// goes to; a route without match matches everything. Without route blocks, the only output
// takes everything.
type Route struct {
	Match   []string `hcl:"match,optional" reload:"restart"`
	Outputs []string `hcl:"outputs" reload:"restart"`
	// Priority is the route's class for shedding under overload: critical (never shed), normal
	// or best_effort (shed first).
	Priority string `hcl:"priority,optional" reload:"live"`
}

// Route priorities (Route.Priority), lowest last: shedding takes best_effort first.
const (
	PriorityCritical   = "critical"
	PriorityNormal     = "normal"
	PriorityBestEffort = "best_effort"
)

// Priorities are the route priorities, in class order (shed.Class).
var Priorities = []string{PriorityCritical, PriorityNormal, PriorityBestEffort}

// Limits are the cardinality budgets: distinct series per window.
type Limits struct {
	// Window is how long a budget's count of distinct series runs before it starts afresh;
	// windows are aligned to the clock (an hour's starts on the hour), so every task's match.
	WindowRaw string    `hcl:"window,optional"`
	Budgets   []*Budget `hcl:"budget,block"`

	Window time.Duration
}

// Budget caps the distinct series of the metrics its globs match (all, without match), or of
// each value of tag PerTag, per window.
type Budget struct {
	Name      string   `hcl:"name,label"`
	Match     []string `hcl:"match,optional"`
	PerTag    string   `hcl:"per_tag,optional"`
	MaxSeries int      `hcl:"max_series"`
	// MaxValues bounds the tag values a per_tag budget tracks one by one; the values after
	// those share one budget (reported with value "__other__").
	MaxValues int `hcl:"max_values,optional"`
}

// Shedding sheds low-priority routes' series when the pipeline is overloaded for a sustained
// time.
type Shedding struct {
	Enabled bool `hcl:"enabled,optional"`
	// MaxLag is the freshness (now minus the oldest unacknowledged record's timestamp, the
	// worst partition) above which the pipeline counts as overloaded, For how long it must be
	// before shedding starts; Interval is how often the loss factors are measured and set.
	MaxLagRaw   string `hcl:"max_lag,optional"`
	ForRaw      string `hcl:"for,optional"`
	IntervalRaw string `hcl:"interval,optional"`

	MaxLag, For, Interval time.Duration
}

// CatchAll reports whether the route matches every metric name.
func (r *Route) CatchAll() bool { return len(r.Match) == 0 || slices.Contains(r.Match, "**") }

// Output returns the output named name, or nil.
func (c *Config) Output(name string) *Output {
	for _, o := range c.Outputs {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// DeadLetter names the topic unparseable lines are written to, with headers saying where each
// came from and why it was rejected. Without it they are counted and logged only.
type DeadLetter struct {
	Topic string `hcl:"topic"`
}

// Control names the compacted topic whose records hold the realtime settings (docs/control.md):
// every task reads it from the start at boot, within Timeout, then follows it.
type Control struct {
	Topic      string `hcl:"topic"`
	TimeoutRaw string `hcl:"timeout,optional"`

	Timeout time.Duration
}

// PoolBudget is the memory the batch pools hold: raw_batches × batch_bytes +
// shard_batches × shard_batch_bytes. The process's memory is bounded by it, not by the input;
// the pipeline's whole memory budget adds what the Kafka client and the workers hold.
func (p *Pipeline) PoolBudget() int64 {
	return int64(p.RawBatches)*int64(p.BatchBytes) + int64(p.ShardBatches)*int64(p.ShardBatchBytes)
}

// The remote-write protocols an output speaks (Output.Protocol).
const (
	ProtocolV1 = "1.0"
	ProtocolV2 = "2.0"
)
