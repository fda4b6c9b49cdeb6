package config

// Every default of the configuration is in this file: Load decodes the file over Default, each
// input and output block over defaultInput and defaultOutput, and validation calls
// deriveDefaults for the settings whose default depends on others. Nothing else sets one.

import (
	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/relabel"
)

// deriveCounts fills the worker and writer counts left at 0 from the CPUs the process may use
// (GOMAXPROCS, which follows a container's CPU limit): a worker per CPU, at least 4 (the workers
// decode, judge and encode, most of the CPU), and a writer per 4 CPUs, at least 2. Readers stay 2:
// they are consumer-group members, which the fleet's sizing counts (tasks × readers ≤ input
// partitions). docs/performance.md, "Scaling with cores", says why.
func (p *Pipeline) deriveCounts(procs int) {
	if p.Workers == 0 {
		p.Workers = max(4, procs)
	}
	if p.Writers == 0 {
		p.Writers = max(2, procs/4)
	}
}

// deriveDefaults fills the pool sizes left at 0, whose defaults depend on the actor counts.
func (p *Pipeline) deriveDefaults() {
	if p.RawBatches == 0 {
		p.RawBatches = p.Readers*4 + p.Workers*2
	}
	if p.ShardBatches == 0 {
		p.ShardBatches = p.Writers*8 + p.Workers*4
	}
}

// Default returns the configuration with every default filled in, except those of blocks that
// may repeat (defaultOutput, defaultInput) and those derived from other settings
// (deriveDefaults).
func Default() *Config {
	return &Config{
		Log:  &Log{Level: "info", Format: "auto"},
		HTTP: &HTTP{Address: "127.0.0.1:9464"},
		Kafka: &Kafka{Brokers: []string{"127.0.0.1:9092"}, ClientID: "sluice", Version: "3.6.0",
			SessionTimeoutRaw: "10s", HeartbeatIntervalRaw: "3s", RebalanceTimeoutRaw: "8s", CommitIntervalRaw: "1s",
			Balance: "load"},
		Pipeline: &Pipeline{
			Readers: 2, Workers: 0, Writers: 0, // 0: from GOMAXPROCS (deriveCounts)
			BatchBytesRaw: "1MiB", BatchRecords: 8192, BatchLingerRaw: "50ms",
			ShardBatchBytesRaw: "1MiB",
			ShutdownTimeoutRaw: "20s", MemoryLimitRaw: "0",
		},
		Supervisor:  &Supervisor{MaxRestarts: 10, WithinRaw: "1m", Redeliveries: 3},
		Coordinator: &Coordinator{Enabled: true, IntervalRaw: "5s", HotFactor: 1.1, MaxSpread: 8},
		Validation: &Validation{
			MaxMetricLength: 256, MaxTagKeyLength: 128, MaxTagValueLength: 256, MaxTags: 16,
			MaxAgeRaw: "24h", MaxFutureRaw: "10m",
		},
		Denylist: &Denylist{},
		Limits:   &Limits{WindowRaw: "1h"},
		Shedding: &Shedding{MaxLagRaw: "30s", ForRaw: "30s", IntervalRaw: "10s"},
	}
}

// deriveDefaults fills what a control block leaves out (it is decoded from a zero value).
func (c *Control) deriveDefaults() {
	if c.TimeoutRaw == "" {
		c.TimeoutRaw = "10s"
	}
}

// DefaultBudgetValues is how many values of its tag a per_tag budget tracks one by one.
const DefaultBudgetValues = 1000

// deriveDefaults fills what a budget leaves out (budget blocks are decoded from zero values).
func (b *Budget) deriveDefaults() {
	if b.MaxValues == 0 {
		b.MaxValues = DefaultBudgetValues
	}
}

// deriveDefaults fills what an aggregate leaves out (aggregate blocks are decoded from zero values).
func (a *Aggregate) deriveDefaults() {
	if a.LatenessRaw == "" {
		a.LatenessRaw = "30s"
	}
	if a.MaxSeries == 0 {
		a.MaxSeries = 10_000
	}
	if a.Topic == "" {
		a.Topic = "sluice.aggregate." + a.Name
	}
}

// deriveDefaults fills what a route leaves out.
func (r *Route) deriveDefaults() {
	if r.Priority == "" {
		r.Priority = PriorityNormal
	}
}

// deriveDefaults fills what a relabel block leaves out with Prometheus' defaults (relabel blocks
// are decoded from zero values; written says which settings the block wrote).
func (r *Relabel) deriveDefaults(written func(attr string) bool) {
	spec := relabel.DefaultSpec()
	r.Written = map[string]bool{}
	for _, a := range []string{"action", "source_labels", "separator", "regex", "target_label", "replacement", "modulus"} {
		r.Written[a] = written(a)
	}
	if !r.Written["action"] {
		r.Action = spec.Action
	}
	if !r.Written["separator"] {
		r.Separator = spec.Separator
	}
	if !r.Written["regex"] {
		r.Regex = spec.Regex
	}
	if !r.Written["replacement"] {
		r.Replacement = spec.Replacement
	}
}

// deriveDefaults fills what depends on the input's format: NaN and ±Inf are sample values for
// the Prometheus family (nil: the validation block decides).
func (in *Input) deriveDefaults() {
	if in.AllowNonFinite == nil && formats.PrometheusFamily(in.Format) {
		keep := true
		in.AllowNonFinite = &keep
	}
}

// DefaultInputGroup is the consumer group of an input that names none.
const DefaultInputGroup = "sluice"

// defaultOutput fills an output block's defaults, which depend on its type, before it is
// decoded.
func defaultOutput(typ string) *Output {
	o := &Output{FlushBytesRaw: "1MiB", LingerRaw: "200ms", NameMappingRaw: "keep", Protocol: ProtocolV1, Delivery: DeliveryAtLeastOnce,
		Retry: &Retry{MinBackoffRaw: "100ms", MaxBackoffRaw: "10s", MaxElapsedRaw: "0s"}}
	if contains(httpOutputs, typ) {
		o.TimeoutRaw, o.Concurrency, o.MaxBatchSamples, o.MaxBatchBytesRaw = "30s", 4, 10000, "4MiB"
		o.Retry.MaxElapsedRaw = "5m"
		o.Breaker = &Breaker{Failures: 5, CoolDownRaw: "10s"}
		o.ProbeAtStart = true
	} else {
		o.Compression = "none"
	}
	return o
}

// defaultInput fills an input block's defaults before it is decoded.
func defaultInput() *Input {
	return &Input{Group: DefaultInputGroup, InitialOffset: "oldest", IsolationLevel: IsolationReadCommitted, Precision: "ns", FieldSeparator: "_", Encoding: "otlp_proto", Translation: "prometheus"}
}
