package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/glob"
)

// BalanceStrategies are the values of kafka.balance.
var BalanceStrategies = []string{"load", "sticky", "range", "roundrobin"}

// OutputTypes lists the output types this build writes.
var OutputTypes = []string{OutputKafka, OutputRemoteWrite, OutputOTLP}

// httpOutputs are the output types that write over HTTP, with the same settings.
var httpOutputs = []string{OutputRemoteWrite, OutputOTLP}

// HTTP reports whether the output sends HTTP requests (remote write, OTLP): its shards are its
// concurrency, and its buffers are requests.
func (o *Output) HTTP() bool { return contains(httpOutputs, o.Type) }

// outputSettings are the settings only some output types take, and which.
var outputSettings = map[string][]string{
	"topic": {OutputKafka}, "compression": {OutputKafka}, "shards": {OutputKafka}, "delivery": {OutputKafka},
	"protocol": {OutputKafka, OutputRemoteWrite},
	"urls":     httpOutputs, "headers": httpOutputs, "basic_auth": httpOutputs, "bearer_token": httpOutputs,
	"timeout": httpOutputs, "concurrency": httpOutputs, "max_batch_samples": httpOutputs,
	"max_batch_bytes": httpOutputs, "breaker": httpOutputs, "probe_at_start": httpOutputs,
}

func (c *Config) validate(v *validator) {
	if hclog.LevelFromString(c.Log.Level) == hclog.NoLevel {
		v.errorf("log", "level", "Invalid log level", "%q is not a level: use trace, debug, info, warn or error.", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "text":
	default:
		v.errorf("log", "format", "Invalid log format", "%q is not a format: use auto (JSON unless stdout is a terminal), json or text.", c.Log.Format)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Address); err != nil {
		v.errorf("http", "address", "Invalid address", "%q is not host:port: %v.", c.HTTP.Address, err)
	}

	c.validateKafka(v)
	c.validateInputs(v)
	c.validatePipeline(v)
	c.validateSupervisorAndCoordinator(v)
	c.validateLimits(v)
	c.validateDenylist(v)
	c.validateCardinality(v)
	c.validateShedding(v)
	c.validateOutputs(v)
	c.validateRoutes(v)
	c.validateAggregates(v)
	c.validateRelabel(v)
	if c.Control != nil {
		c.Control.deriveDefaults()
		c.Control.Timeout = v.duration("control", "timeout", c.Control.TimeoutRaw, 100*time.Millisecond)
		if c.Control.Topic == "" {
			v.errorf("control", "topic", "Empty control topic", "Name the compacted topic that holds the realtime settings, such as \"sluice.control\".")
		}
		for _, in := range c.Inputs {
			if slices.Contains(in.Topics, c.Control.Topic) {
				v.errorf("control", "topic", "Control topic is an input", "Topic %q is also an input topic.", c.Control.Topic)
			}
		}
	}
	if c.DeadLetter != nil {
		for _, o := range c.Outputs {
			if o.Type == OutputKafka && o.Topic == c.DeadLetter.Topic {
				v.errorf("dead_letter", "topic", "Dead-letter topic is an output", "Topic %q is also output %q's topic.", o.Topic, o.Name)
			}
		}
		for _, in := range c.Inputs {
			for _, t := range in.Topics {
				if t == c.DeadLetter.Topic {
					v.errorf("dead_letter", "topic", "Dead-letter topic is an input", "Topic %q is read by input %q.", t, in.Format)
				}
			}
		}
	}
	if c.Pipeline.ShardBatchBytes > 0 && c.Pipeline.BatchBytes > c.Pipeline.ShardBatchBytes*4 {
		v.errorf("pipeline", "shard_batch_bytes", "Shard batches too small", "shard_batch_bytes (%d) must be at least a quarter of batch_bytes (%d), or a raw batch needs too many shard batches.", c.Pipeline.ShardBatchBytes, c.Pipeline.BatchBytes)
	}
}

// validateKafka checks the kafka block and resolves its durations.
func (c *Config) validateKafka(v *validator) {
	if len(c.Kafka.Brokers) == 0 {
		v.errorf("kafka", "brokers", "No brokers", "Name at least one Kafka broker as host:port.")
	}
	for _, b := range c.Kafka.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			v.errorf("kafka", "brokers", "Invalid broker address", "%q is not host:port: %v.", b, err)
		}
	}
	if c.Kafka.ClientID == "" {
		v.errorf("kafka", "client_id", "Empty client_id", "Set a client_id: brokers use it in their logs and quotas.")
	}
	if ver, err := sarama.ParseKafkaVersion(c.Kafka.Version); err != nil {
		v.errorf("kafka", "version", "Invalid Kafka version", "%q: %v.", c.Kafka.Version, err)
	} else if !ver.IsAtLeast(sarama.V0_11_0_0) {
		v.errorf("kafka", "version", "Kafka version too old", "%s is older than 0.11.0, which the idempotent producer needs.", c.Kafka.Version)
	} else {
		c.Kafka.KafkaVersion = ver
	}

	c.Kafka.SessionTimeout = v.duration("kafka", "session_timeout", c.Kafka.SessionTimeoutRaw, 100*time.Millisecond)
	c.Kafka.HeartbeatInterval = v.duration("kafka", "heartbeat_interval", c.Kafka.HeartbeatIntervalRaw, 10*time.Millisecond)
	if c.Kafka.HeartbeatInterval > 0 && c.Kafka.HeartbeatInterval*3 > c.Kafka.SessionTimeout {
		v.errorf("kafka", "heartbeat_interval", "Heartbeat too slow", "heartbeat_interval (%s) must be at most a third of session_timeout (%s).",
			c.Kafka.HeartbeatInterval, c.Kafka.SessionTimeout)
	}

	c.Kafka.RebalanceTimeout = v.duration("kafka", "rebalance_timeout", c.Kafka.RebalanceTimeoutRaw, time.Second)
	if c.Kafka.HeartbeatInterval > 0 && c.Kafka.RebalanceTimeout > 0 && c.Kafka.RebalanceTimeout < c.Kafka.HeartbeatInterval+time.Second {
		v.errorf("kafka", "rebalance_timeout", "Rebalance timeout too short", "rebalance_timeout (%s) must be at least heartbeat_interval (%s) + 1s: a member learns of a rebalance from a heartbeat and then has to give its partitions up.",
			c.Kafka.RebalanceTimeout, c.Kafka.HeartbeatInterval)
	}
	if c.Kafka.SessionTimeout > 0 && c.Kafka.RebalanceTimeout >= c.Kafka.SessionTimeout {
		v.warnf("kafka", "rebalance_timeout", "Rebalance timeout not below the session timeout", "rebalance_timeout (%s) is not below session_timeout (%s): brokers that expire members while they wait in a rebalance (kfake, which dev mode runs) can then stall the group.",
			c.Kafka.RebalanceTimeout, c.Kafka.SessionTimeout)
	}
	if id := c.Kafka.InstanceID; id != "" {
		if len(id) > 200 || strings.ContainsFunc(id, func(r rune) bool {
			return !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) {
			v.errorf("kafka", "instance_id", "Invalid instance id", "%q: use at most 200 of the characters a-z A-Z 0-9 . _ -.", id)
		} else if c.Kafka.KafkaVersion != (sarama.KafkaVersion{}) && !c.Kafka.KafkaVersion.IsAtLeast(sarama.V2_3_0_0) {
			v.errorf("kafka", "instance_id", "Kafka version too old", "static membership needs Kafka 2.3.0 or newer; version is %s.", c.Kafka.Version)
		}
	}

	c.Kafka.CommitInterval = v.duration("kafka", "commit_interval", c.Kafka.CommitIntervalRaw, 10*time.Millisecond)
	if !contains(BalanceStrategies, c.Kafka.Balance) {
		v.errorf("kafka", "balance", "Unknown balance strategy", "%q is not a strategy: use %s.", c.Kafka.Balance, strings.Join(BalanceStrategies, ", "))
	}

	if t := c.Kafka.TLS; t != nil {
		t.Config = v.tlsConfig(t)
	}
	if s := c.Kafka.SASL; s != nil {
		if !contains(SASLMechanisms, s.Mechanism) {
			v.errorf("kafka.sasl", "mechanism", "Unknown SASL mechanism", "%q is not a mechanism: use %s.", s.Mechanism, strings.Join(SASLMechanisms, ", "))
		}
		if s.Username == "" {
			v.errorf("kafka.sasl", "username", "No SASL username", "Set username (and password, from env()).")
		}
		if s.Password == "" {
			v.errorf("kafka.sasl", "password", "No SASL password", `Set password, best from the environment: password = env("SLUICE_KAFKA_PASSWORD").`)
		}
	}
}

// validatePipeline checks the pipeline block, resolves its sizes and durations and derives the pool sizes.
func (c *Config) validatePipeline(v *validator) {
	p := c.Pipeline
	p.deriveCounts(runtime.GOMAXPROCS(0))
	v.positive("pipeline", "readers", p.Readers)
	v.positive("pipeline", "workers", p.Workers)
	v.positive("pipeline", "writers", p.Writers)
	v.positive("pipeline", "batch_records", p.BatchRecords)
	p.BatchBytes = v.size("pipeline", "batch_bytes", p.BatchBytesRaw, 1<<10, 1<<30)
	p.ShardBatchBytes = v.size("pipeline", "shard_batch_bytes", p.ShardBatchBytesRaw, 1<<10, 1<<30)
	p.BatchLinger = v.duration("pipeline", "batch_linger", p.BatchLingerRaw, time.Millisecond)
	p.ShutdownTimeout = v.duration("pipeline", "shutdown_timeout", p.ShutdownTimeoutRaw, time.Second)
	if p.MemoryLimitRaw != "0" {
		p.MemoryLimit = int64(v.size("pipeline", "memory_limit", p.MemoryLimitRaw, 32<<20, 1<<42))
	}
	if p.RawBatches != 0 && p.RawBatches < p.Readers {
		v.errorf("pipeline", "raw_batches", "Pool too small", "raw_batches is %d; it must be at least readers (%d), or 0 for the default.", p.RawBatches, p.Readers)
	}
	if p.ShardBatches != 0 && p.ShardBatches < p.Workers {
		v.errorf("pipeline", "shard_batches", "Pool too small", "shard_batches is %d; it must be at least workers (%d), or 0 for the default.", p.ShardBatches, p.Workers)
	}
	p.deriveDefaults()
}

// validateSupervisorAndCoordinator checks the supervisor and coordinator blocks.
func (c *Config) validateSupervisorAndCoordinator(v *validator) {
	s := c.Supervisor
	if s.MaxRestarts < 0 {
		v.errorf("supervisor", "max_restarts", "Negative max_restarts", "max_restarts is %d; use 0 or more.", s.MaxRestarts)
	}
	s.Within = v.duration("supervisor", "within", s.WithinRaw, time.Second)
	if s.Redeliveries < 0 {
		v.errorf("supervisor", "redeliveries", "Negative redeliveries", "redeliveries is %d; use 0 (dead-letter at the first failure) or more.", s.Redeliveries)
	}

	co := c.Coordinator
	co.Interval = v.duration("coordinator", "interval", co.IntervalRaw, 100*time.Millisecond)
	if co.HotFactor <= 1 {
		v.errorf("coordinator", "hot_factor", "hot_factor too small", "hot_factor is %g; it must be above 1 (1.1, the default, spreads a partition that carries a tenth more than a worker's fair share).", co.HotFactor)
	}
	v.positive("coordinator", "max_spread", co.MaxSpread)
}

// validateLimits checks the validation block (the limits datapoints are judged by).
func (c *Config) validateLimits(v *validator) {
	val := c.Validation
	v.positive("validation", "max_metric_length", val.MaxMetricLength)
	v.positive("validation", "max_tag_key_length", val.MaxTagKeyLength)
	v.positive("validation", "max_tag_value_length", val.MaxTagValueLength)
	if val.MaxTags < 0 {
		v.errorf("validation", "max_tags", "Negative max_tags", "max_tags is %d; use 0 or more.", val.MaxTags)
	}
	val.MaxAge = v.duration("validation", "max_age", val.MaxAgeRaw, 0)
	val.MaxFuture = v.duration("validation", "max_future", val.MaxFutureRaw, 0)
}

// MaxBudgets is how many budget blocks a limits block may hold.
const MaxBudgets = 64

// validateCardinality checks the limits block: the window and every budget.
func (c *Config) validateCardinality(v *validator) {
	l := c.Limits
	l.Window = v.duration("limits", "window", l.WindowRaw, time.Second)
	if len(l.Budgets) > MaxBudgets {
		v.errorf("limits", "", "Too many budgets", "There are %d budget blocks; at most %d.", len(l.Budgets), MaxBudgets)
	}
	seen := map[string]bool{}
	for _, b := range l.Budgets {
		key := "limits.budget." + b.Name
		b.deriveDefaults()
		if b.Name == "" {
			v.errorf(key, "", "Unnamed budget", "A budget needs a name: budget \"checkout\" { ... }.")
		}
		if seen[b.Name] {
			v.errorf(key, "", "Duplicate budget name", "There is already a budget named %q; metrics name budgets, so names must differ.", b.Name)
		}
		seen[b.Name] = true
		if b.MaxSeries < 1 {
			v.errorf(key, "max_series", "Must be at least 1", "max_series is %d; it must be at least 1.", b.MaxSeries)
		}
		if b.MaxValues < 1 {
			v.errorf(key, "max_values", "Must be at least 1", "max_values is %d; it must be at least 1.", b.MaxValues)
		}
		if _, ok := v.pos[key+".match"]; ok && len(b.Match) == 0 {
			v.errorf(key, "match", "Empty match", "List at least one glob, or leave match out for a budget over every metric.")
		}
		if _, err := glob.Compile(b.Match); err != nil {
			v.errorf(key, "match", "Invalid glob", "%v.", err)
		}
	}
}

// validateShedding checks the shedding block.
func (c *Config) validateShedding(v *validator) {
	s := c.Shedding
	s.MaxLag = v.duration("shedding", "max_lag", s.MaxLagRaw, 100*time.Millisecond)
	s.For = v.duration("shedding", "for", s.ForRaw, 0)
	s.Interval = v.duration("shedding", "interval", s.IntervalRaw, 100*time.Millisecond)
}

// validateDenylist compiles the denylist globs and reads its file, relative to the config file.
func (c *Config) validateDenylist(v *validator) {
	if _, err := glob.Compile(c.Denylist.Globs); err != nil {
		v.errorf("denylist", "globs", "Invalid glob", "%v.", err)
	}
	c.Denylist.All = append([]string(nil), c.Denylist.Globs...)
	if f := c.Denylist.File; f != "" {
		path := f
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(c.Filename), path)
		}
		globs, err := readDenylistFile(path)
		if err != nil {
			v.errorf("denylist", "file", "Unusable denylist file", "%v.", err)
		}
		c.Denylist.All = append(c.Denylist.All, globs...)
	}
}

// positive reports a count that must be at least 1.
func (v *validator) positive(block, attr string, n int) {
	if n < 1 {
		v.errorf(block, attr, "Must be at least 1", "%s is %d; it must be at least 1.", attr, n)
	}
}

var codecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// duration parses a duration setting that must be at least minimum.
func (v *validator) duration(block, attr, raw string, minimum time.Duration) time.Duration {
	d, err := time.ParseDuration(raw)
	if err != nil {
		v.errorf(block, attr, "Invalid duration", "%q is not a duration: write a number and a unit, such as \"30s\", \"500ms\" or \"2m\".", raw)
		return 0
	}
	if d < minimum {
		v.errorf(block, attr, "Duration too short", "%s is %s; it must be at least %s.", attr, raw, minimum)
	}
	return d
}

// size parses a size setting ("512KiB", "1MB", "4096") within [lo, hi] bytes.
func (v *validator) size(block, attr, raw string, lo, hi int) int {
	n, err := ParseSize(raw)
	if err != nil {
		v.errorf(block, attr, "Invalid size", "%q is not a size: write a number and a unit, such as \"512KiB\", \"1MiB\" or \"1MB\".", raw)
		return 0
	}
	if n < lo || n > hi {
		v.errorf(block, attr, "Size out of range", "%s is %s; it must be between %d and %d bytes.", attr, raw, lo, hi)
	}
	return n
}

var sizeUnits = []struct {
	suffix string
	mult   int
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}}

// tlsConfig builds the client TLS config, reporting unreadable or unusable files where they are
// named.
func (v *validator) tlsConfig(t *KafkaTLS) *tls.Config {
	out := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			v.errorf("kafka.tls", "ca_file", "Unreadable CA file", "%v.", err)
		} else {
			out.RootCAs = x509.NewCertPool()
			if !out.RootCAs.AppendCertsFromPEM(pem) {
				v.errorf("kafka.tls", "ca_file", "No certificates in the CA file", "%s holds no PEM certificate.", t.CAFile)
			}
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			v.errorf("kafka.tls", "cert_file", "Unusable client certificate", "%v.", err)
		} else {
			out.Certificates = []tls.Certificate{cert}
		}
	case t.CertFile != "":
		v.errorf("kafka.tls", "key_file", "No key file", "cert_file needs key_file.")
	case t.KeyFile != "":
		v.errorf("kafka.tls", "cert_file", "No certificate file", "key_file needs cert_file.")
	}
	return out
}

// readDenylistFile reads one glob per line; blank lines and '#' comments are skipped. A glob
// that does not compile is an error naming its line.
func readDenylistFile(path string) ([]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var globs []string
	for i, line := range strings.Split(string(src), "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if _, err := glob.Compile([]string{line}); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		globs = append(globs, line)
	}
	return globs, nil
}

// ParseSize parses a byte size: a whole number with an optional unit B, KB, MB, GB (powers of
// 1000) or KiB, MiB, GiB (powers of 1024).
func ParseSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	mult := 1
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, strconv.ErrSyntax
	}
	if n > (1<<62)/mult {
		return 0, strconv.ErrRange
	}
	return n * mult, nil
}

// sortedKeys returns m's keys in order, so that diagnostics come in the same order every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
