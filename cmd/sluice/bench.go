package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/parse/formats"
)

// benchBrokerEnv makes the sluice binary run as the benchmark's broker child process: a kfake
// broker whose CPU is measured apart from the pipeline's.
const benchBrokerEnv = "SLUICE_BENCH_BROKER"

const (
	benchInTopic  = "bench.in"
	benchOutTopic = "bench.out"
	benchGroup    = "sluice-bench"
)

// benchResult is what `sluice bench` prints.
type benchResult struct {
	Format              string    `json:"format"`
	Records             int       `json:"records"`
	Datapoints          int64     `json:"datapoints"`
	DatapointsOut       int64     `json:"datapoints_out"`
	Dropped             int64     `json:"dropped"`
	WallS               float64   `json:"wall_s"`
	CPUS                float64   `json:"cpu_s"`
	BrokerCPUS          float64   `json:"broker_cpu_s"`
	DpPerS              float64   `json:"dp_per_s"`
	DpPerCPUS           float64   `json:"dp_per_cpu_s"`
	AllocBytesPerDp     float64   `json:"alloc_bytes_per_dp"`
	AllocsPerDp         float64   `json:"allocs_per_dp"`
	GCCycles            int64     `json:"gc_cycles"`
	GCPauseTotalS       float64   `json:"gc_pause_total_s"`
	GCPauseMaxS         float64   `json:"gc_pause_max_s"`
	GCCPUS              float64   `json:"gc_cpu_s"`
	GCCPUShare          float64   `json:"gc_cpu_share"`
	MemoryLimitBytes    int64     `json:"memory_limit_bytes"`
	MemoryBudgetBytes   int64     `json:"memory_budget_bytes"`
	PeakRSSBytes        int64     `json:"peak_rss_bytes"`
	WorkerBusyImbalance float64   `json:"worker_busy_imbalance"`
	WorkerBusyS         []float64 `json:"worker_busy_s"`
	LatencyP50S         float64   `json:"latency_p50_s"`
	LatencyP99S         float64   `json:"latency_p99_s"`
	Coordinator         string    `json:"coordinator"`
	Baseline            bool      `json:"baseline"`
	Partitions          int       `json:"partitions"`
	Skew                string    `json:"skew"`
	Readers             int       `json:"readers"`
	Workers             int       `json:"workers"`
	Writers             int       `json:"writers"`
	Shards              int       `json:"shards"`
	Output              string    `json:"output"`
	Protocol            string    `json:"protocol"`
	Delivery            string    `json:"delivery"`
	Transactions        int64     `json:"transactions"`
	TransactionPauseS   float64   `json:"transaction_pause_s"`
	OutputBytes         int64     `json:"output_bytes"`
	OutputBytesPerDp    float64   `json:"output_bytes_per_dp"`
	RoutingChanges      int64     `json:"routing_changes"`
	HotPartitions       int64     `json:"hot_partitions"`
}

type benchFlags struct {
	format                    string
	records, lines, series    int
	partitions                int
	skew                      string
	readers, workers, writers int
	shards                    int
	remoteWrite               string
	protocol                  string
	delivery                  string
	commitInterval            time.Duration
	coordinator               string
	baseline                  bool
	config                    string
	progress                  bool
	timeout                   time.Duration
	cpuProfile                string
}

func benchCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", stderr)
	var f benchFlags
	fs.StringVar(&f.format, "format", "opentsdb", "input format: "+strings.Join(formats.Names, ", "))
	fs.IntVar(&f.records, "records", 20000, "Kafka records to produce before timing")
	fs.IntVar(&f.lines, "lines-per-record", 100, "lines per record (an influx line holds 3 datapoints)")
	fs.IntVar(&f.series, "series", 10000, "distinct series")
	fs.IntVar(&f.partitions, "partitions", 8, "input topic partitions")
	fs.StringVar(&f.skew, "skew", "uniform", "records per partition: uniform, zipf:S or hot:P:F (P partitions carry the fraction F)")
	fs.IntVar(&f.readers, "readers", 0, "readers (0: from the config)")
	fs.IntVar(&f.workers, "workers", 0, "workers (0: from the config)")
	fs.IntVar(&f.writers, "writers", 0, "writers (0: from the config)")
	fs.IntVar(&f.shards, "shards", 0, "output shards: Kafka partitions, or remote-write concurrency (0: from the config; 16 for Kafka)")
	fs.DurationVar(&f.commitInterval, "commit-interval", 0, "offset commit interval, and an exactly-once output's transaction interval (0: 100ms, so that the run's end is seen soon)")
	fs.StringVar(&f.delivery, "delivery", "", "a Kafka output's delivery: at_least_once or exactly_once (default: from the config, else at_least_once)")
	fs.StringVar(&f.protocol, "protocol", "", "remote-write protocol of the output: 1.0 or 2.0 (default: from the config, else 1.0)")
	fs.StringVar(&f.remoteWrite, "remote-write", "", "write to this remote-write URL (such as http://127.0.0.1:8428/api/v1/write) instead of a Kafka shard topic")
	fs.StringVar(&f.coordinator, "coordinator", "", "on or off (default: from the config)")
	fs.BoolVar(&f.baseline, "baseline", false, "consume the records with a bare sarama consumer group instead of the pipeline")
	fs.StringVar(&f.config, "config", "", "config file for every other setting (brokers, inputs and outputs are the benchmark's)")
	fs.BoolVar(&f.progress, "progress", false, "a progress line a second on stderr")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up when the run takes longer")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed part of the run to this file")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(stderr, "sluice bench: %v\n", err)
		return exitError
	}
	res, err := runBench(f, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sluice bench: %v\n", err)
		return exitError
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(res); err != nil {
		return exitError
	}
	if !f.baseline && (res.DatapointsOut != res.Datapoints || res.Dropped != 0) {
		fmt.Fprintf(stderr, "sluice bench: %d datapoints produced, %d written, %d dropped\n", res.Datapoints, res.DatapointsOut, res.Dropped)
		return exitError
	}
	return exitOK
}

func (f *benchFlags) check() error {
	known := false
	for _, n := range formats.Names {
		known = known || n == f.format
	}
	switch {
	case !known:
		return fmt.Errorf("-format %q: use one of %s", f.format, strings.Join(formats.Names, ", "))
	case f.records < 1 || f.lines < 1 || f.series < 1 || f.partitions < 1:
		return errors.New("-records, -lines-per-record, -series and -partitions must be at least 1")
	case f.coordinator != "" && f.coordinator != "on" && f.coordinator != "off":
		return fmt.Errorf("-coordinator %q: use on or off", f.coordinator)
	}
	_, err := parseSkew(f.skew, f.partitions)
	return err
}

// benchConfig is the pipeline's configuration: the file's (or the defaults), with the
// benchmark's broker, input and output, and the flags' overrides.
func benchConfig(f benchFlags, broker string) (*config.Config, error) {
	src := []byte(`input "opentsdb" { topics = ["x"] }` + "\n" + `output "kafka" "bench" { topic = "y" }` + "\n" + `log { level = "warn" }` + "\n")
	name := "bench"
	if f.config != "" {
		var err error
		if src, err = os.ReadFile(f.config); err != nil {
			return nil, err
		}
		name = f.config
	}
	cfg, err := config.Load(name, src)
	if err != nil {
		return nil, err
	}
	cfg.Kafka.Brokers = []string{broker}
	// Short by default, so that the end of the run is seen soon; -commit-interval sets it, as an
	// exactly-once comparison must (a transaction per commit interval).
	cfg.Kafka.CommitInterval = min(cfg.Kafka.CommitInterval, 100*time.Millisecond)
	if f.commitInterval > 0 {
		cfg.Kafka.CommitInterval = f.commitInterval
	}
	var in *config.Input
	for _, i := range cfg.Inputs {
		if i.Format == f.format {
			in = i
		}
	}
	if in == nil {
		in = &config.Input{Format: f.format, Precision: "ns", FieldSeparator: "_"}
	}
	in.Topics, in.Group = []string{benchInTopic}, benchGroup
	cfg.Inputs = []*config.Input{in}
	out := cfg.Outputs[0]
	if f.remoteWrite != "" {
		rw, err := config.Load("-remote-write", fmt.Appendf(nil, "input \"opentsdb\" { topics = [\"x\"] }\noutput \"remote_write\" \"bench\" { urls = [%q] }\n", f.remoteWrite))
		if err != nil {
			return nil, err
		}
		out = rw.Outputs[0]
		if f.shards > 0 {
			out.Concurrency = f.shards
		}
	} else {
		out.Type, out.Topic = config.OutputKafka, benchOutTopic
		if f.shards > 0 {
			out.Shards = f.shards
		} else if out.Shards == 0 {
			out.Shards = 16
		}
	}
	switch {
	case f.delivery == "":
	case f.delivery != config.DeliveryAtLeastOnce && f.delivery != config.DeliveryExactlyOnce:
		return nil, fmt.Errorf("-delivery %q: use at_least_once or exactly_once", f.delivery)
	case f.remoteWrite != "" && f.delivery == config.DeliveryExactlyOnce:
		return nil, fmt.Errorf("-delivery exactly_once is a Kafka output's: leave -remote-write out")
	default:
		out.Delivery = f.delivery
	}
	if f.protocol != "" {
		if f.protocol != "1.0" && f.protocol != "2.0" {
			return nil, fmt.Errorf("-protocol %q: use 1.0 or 2.0", f.protocol)
		}
		out.Protocol = f.protocol
	}
	cfg.Outputs, cfg.Routes = []*config.Output{out}, nil
	cfg.DeadLetter = nil
	p := cfg.Pipeline
	autoRaw, autoShard := p.RawBatches == p.Readers*4+p.Workers*2, p.ShardBatches == p.Writers*8+p.Workers*4
	for _, o := range []struct {
		flag int
		dst  *int
	}{{f.readers, &p.Readers}, {f.workers, &p.Workers}, {f.writers, &p.Writers}} {
		if o.flag > 0 {
			*o.dst = o.flag
		}
	}
	if autoRaw {
		p.RawBatches = p.Readers*4 + p.Workers*2
	}
	if autoShard {
		p.ShardBatches = p.Writers*8 + p.Workers*4
	}
	if f.coordinator != "" {
		cfg.Coordinator.Enabled = f.coordinator == "on"
	}
	return cfg, nil
}

func runBench(f benchFlags, stderr io.Writer) (*benchResult, error) {
	broker, err := startBenchBroker()
	if err != nil {
		return nil, err
	}
	defer broker.close()
	cfg, err := benchConfig(f, broker.addr)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			ce.Write(stderr)
		}
		return nil, err
	}
	if err := createBenchTopics(cfg, f.partitions); err != nil {
		return nil, err
	}
	sk, _ := parseSkew(f.skew, f.partitions)
	ends, produced, err := produceBench(cfg, f, sk)
	if err != nil {
		return nil, err
	}
	res := &benchResult{Format: f.format, Records: f.records, Datapoints: produced,
		Baseline: f.baseline, Partitions: f.partitions, Skew: f.skew, Readers: cfg.Pipeline.Readers,
		Workers: cfg.Pipeline.Workers, Writers: cfg.Pipeline.Writers, Shards: benchShards(cfg), Output: cfg.Outputs[0].Type, Protocol: cfg.Outputs[0].Protocol, Coordinator: "off",
		Delivery: cfg.Outputs[0].Delivery}
	if cfg.Coordinator.Enabled && !f.baseline {
		res.Coordinator = "on"
	}

	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	// The pools are allocated by New, before timing: they are the pipeline's fixed memory, not a
	// cost per datapoint.
	var p *actors.Pipeline
	var log hclog.Logger
	if !f.baseline {
		log = hclog.New(&hclog.LoggerOptions{Name: "sluice", Level: hclog.LevelFromString(cfg.Log.Level), Output: stderr})
		if p, err = actors.New(cfg, log, nil); err != nil {
			return nil, err
		}
	}
	stopProfile, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		return nil, err
	}
	before := takeSample(broker)
	var stopBaseline func()
	if f.baseline {
		stopBaseline, err = startBaseline(ctx, cfg)
	} else if err = p.Start(ctx); err == nil {
		// As sluice run does at start: the soft memory limit from the budget.
		res.MemoryLimitBytes = applyMemoryLimit(p, log, true)
		res.MemoryBudgetBytes = p.MemoryBudget().WorkingSet()
	}
	if err != nil {
		return nil, err
	}
	waitErr := waitCommitted(ctx, cfg, ends, f, p, stderr)
	after := takeSample(broker)
	stopProfile()
	if f.baseline {
		stopBaseline()
	} else {
		res.LatencyP50S = p.LatencyQuantile(0.5).Seconds()
		res.LatencyP99S = p.LatencyQuantile(0.99).Seconds()
		res.WorkerBusyImbalance = p.WorkerBusyImbalance()
		for _, b := range p.WorkerBusy() {
			res.WorkerBusyS = append(res.WorkerBusyS, b.Seconds())
		}
		stopCtx, c2 := context.WithTimeout(context.Background(), 30*time.Second)
		s := p.Stop(stopCtx)
		c2()
		res.DatapointsOut = s.DatapointsOut
		res.OutputBytes = p.OutputBytes()
		if s.DatapointsOut > 0 {
			res.OutputBytesPerDp = float64(res.OutputBytes) / float64(s.DatapointsOut)
		}
		for _, n := range s.Dropped {
			res.Dropped += n
		}
		res.RoutingChanges, res.HotPartitions = s.RoutingChanges, s.HotPartitions
		if res.Transactions = s.TxnCommitted; s.TxnCommitted > 0 {
			res.TransactionPauseS = float64(s.TxnCommitNanos) / float64(s.TxnCommitted) / 1e9
		}
	}
	if waitErr != nil {
		return nil, waitErr
	}
	after.fill(res, before)
	return res, nil
}

// startCPUProfile profiles this process (the pipeline, not the broker) into file, when one is
// named, until the returned function is called.
func startCPUProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	out, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		out.Close()
	}, nil
}
