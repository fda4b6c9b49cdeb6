package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages/formats"
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
	coordinator               string
	baseline                  bool
	config                    string
	progress                  bool
	timeout                   time.Duration
	cpuProfile                string
}

func benchCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	fs.StringVar(&f.remoteWrite, "remote-write", "", "write to this remote-write URL (such as http://127.0.0.1:8428/api/v1/write) instead of a Kafka shard topic")
	fs.StringVar(&f.coordinator, "coordinator", "", "on or off (default: from the config)")
	fs.BoolVar(&f.baseline, "baseline", false, "consume the records with a bare sarama consumer group instead of the pipeline")
	fs.StringVar(&f.config, "config", "", "config file for every other setting (brokers, inputs and outputs are the benchmark's)")
	fs.BoolVar(&f.progress, "progress", false, "a progress line a second on stderr")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up when the run takes longer")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed part of the run to this file")
	if err := fs.Parse(args); err != nil {
		return exitError
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
	cfg.Kafka.CommitInterval = min(cfg.Kafka.CommitInterval, 100*time.Millisecond)
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

// benchBroker is the broker child process.
type benchBroker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

// startBenchBroker re-executes this binary as a kfake broker and reads its address.
func startBenchBroker() (*benchBroker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), benchBrokerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("broker child: %w", err)
	}
	return &benchBroker{cmd: cmd, stdin: stdin, addr: strings.TrimSpace(line)}, nil
}

func (b *benchBroker) close() {
	_ = b.stdin.Close()
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
}

// cpu is the child's CPU time so far, from /proc (0 where there is none).
func (b *benchBroker) cpu() time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(b.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start after the last ')'.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// benchBrokerMain runs in the child: a kfake broker on a free loopback port, its address on
// stdout, until stdin closes.
func benchBrokerMain() int {
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench broker: %v\n", err)
		return exitError
	}
	defer c.Close()
	fmt.Println(c.ListenAddrs()[0])
	_, _ = io.Copy(io.Discard, os.Stdin)
	return exitOK
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
		Workers: cfg.Pipeline.Workers, Writers: cfg.Pipeline.Writers, Shards: benchShards(cfg), Output: cfg.Outputs[0].Type, Coordinator: "off"}
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
		res.MemoryLimitBytes = applyMemoryLimit(p, log)
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
		for _, n := range s.Dropped {
			res.Dropped += n
		}
		res.RoutingChanges, res.HotPartitions = s.RoutingChanges, s.HotPartitions
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

func createBenchTopics(cfg *config.Config, partitions int) error {
	topics := map[string]int{benchInTopic: partitions}
	if cfg.Outputs[0].Type == config.OutputKafka {
		topics[benchOutTopic] = cfg.Outputs[0].Shards
	}
	return createTopics(cfg, topics)
}

// benchShards is the output's shard count: Kafka partitions or remote-write concurrency.
func benchShards(cfg *config.Config) int {
	if o := cfg.Outputs[0]; o.Type == config.OutputRemoteWrite {
		return o.Concurrency
	}
	return cfg.Outputs[0].Shards
}

// produceBench writes the records, spread over the partitions by the skew, and returns each
// partition's end offset and how many datapoints they hold.
func produceBench(cfg *config.Config, f benchFlags, sk skew) ([]int64, int64, error) {
	sc := sarama.NewConfig()
	sc.Version = cfg.Kafka.KafkaVersion
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Return.Successes = true
	sc.Producer.Flush.Bytes = 256 << 10 // the broker refuses batches above its 1 MB message limit
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	prod, err := sarama.NewAsyncProducer(cfg.Kafka.Brokers, sc)
	if err != nil {
		return nil, 0, err
	}
	counts := sk.split(f.records)
	gen := &recordGen{format: f.format, lines: f.lines, series: f.series}
	errc := make(chan error, 1)
	go func() {
		var firstErr error
		for range f.records {
			select {
			case <-prod.Successes():
			case e := <-prod.Errors():
				if firstErr == nil {
					firstErr = e.Err
				}
			}
		}
		errc <- firstErr
	}()
	now := time.Now().Unix()
	// Interleave partitions so that every partition's records are spread over the run.
	left := append([]int(nil), counts...)
	for sent := 0; sent < f.records; {
		for part := range left {
			if left[part] == 0 {
				continue
			}
			// Send in proportion: a partition with k× the records gets k records per round.
			n := max(1, left[part]*f.partitions/max(1, f.records-sent))
			for i := 0; i < n && left[part] > 0; i++ {
				v := append([]byte(nil), gen.record(now)...)
				prod.Input() <- &sarama.ProducerMessage{Topic: benchInTopic, Partition: int32(part), Value: sarama.ByteEncoder(v)}
				left[part]--
				sent++
			}
		}
	}
	err = <-errc
	if cerr := prod.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, 0, fmt.Errorf("producing the records: %w", err)
	}
	ends := make([]int64, f.partitions)
	for i, n := range counts {
		ends[i] = int64(n)
	}
	return ends, int64(f.records) * int64(gen.perRecord()), nil
}

// waitCommitted polls the group's committed offsets until every partition reaches its end.
func waitCommitted(ctx context.Context, cfg *config.Config, ends []int64, f benchFlags, p *actors.Pipeline, stderr io.Writer) error {
	adm, err := embeddedAdmin(cfg)
	if err != nil {
		return err
	}
	defer adm.Close()
	parts := make([]int32, len(ends))
	for i := range parts {
		parts[i] = int32(i)
	}
	start := time.Now()
	lastProgress := start
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := adm.ListConsumerGroupOffsets(benchGroup, map[string][]int32{benchInTopic: parts})
		if err == nil {
			var committed, total int64
			done := true
			for i, end := range ends {
				total += end
				var off int64
				if b := resp.GetBlock(benchInTopic, int32(i)); b != nil && b.Offset > 0 {
					off = b.Offset
				}
				committed += min(off, end)
				done = done && off >= end
			}
			if done {
				return nil
			}
			if f.progress && time.Since(lastProgress) >= time.Second {
				lastProgress = time.Now()
				line := fmt.Sprintf("bench: %5.1fs committed %d/%d records", time.Since(start).Seconds(), committed, total)
				if p != nil {
					s := p.Stats()
					line += fmt.Sprintf(", %d datapoints out, routing changes %d, hot %d", s.DatapointsOut, s.RoutingChanges, s.HotPartitions)
				}
				fmt.Fprintln(stderr, line)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not every offset committed within -timeout %s", f.timeout)
		case <-tick.C:
		}
	}
}

// startBaseline consumes the input with bare sarama consumer-group members (as many as the
// pipeline has readers), marking every record and discarding it.
func startBaseline(ctx context.Context, cfg *config.Config) (func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	var groups []sarama.ConsumerGroup
	done := make(chan struct{}, cfg.Pipeline.Readers)
	for range cfg.Pipeline.Readers {
		sc := sarama.NewConfig()
		sc.Version = cfg.Kafka.KafkaVersion
		sc.Consumer.Offsets.Initial = sarama.OffsetOldest
		sc.Consumer.Offsets.AutoCommit.Interval = cfg.Kafka.CommitInterval
		g, err := sarama.NewConsumerGroup(cfg.Kafka.Brokers, benchGroup, sc)
		if err != nil {
			cancel()
			return nil, err
		}
		groups = append(groups, g)
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{benchInTopic}, discardHandler{}); err != nil {
					return
				}
			}
		}()
	}
	return func() {
		cancel()
		for range groups {
			<-done
		}
		for _, g := range groups {
			_ = g.Close()
		}
	}, nil
}

type discardHandler struct{}

func (discardHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (discardHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (discardHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		s.MarkMessage(m, "")
	}
	return nil
}

// benchSample is the process's accounting at one moment.
type benchSample struct {
	at             time.Time
	cpu, brokerCPU time.Duration
	mem            runtime.MemStats
	gcCPU          float64 // the runtime's estimate of CPU seconds spent in the GC
	pauseHist      *metrics.Float64Histogram
	maxRSS         int64
}

func takeSample(b *benchBroker) benchSample {
	var s benchSample
	s.at = time.Now()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	s.maxRSS = ru.Maxrss * 1024 // KiB on Linux
	s.brokerCPU = b.cpu()
	runtime.ReadMemStats(&s.mem)
	ms := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(ms)
	s.gcCPU = ms[0].Value.Float64()
	s.pauseHist = ms[1].Value.Float64Histogram()
	return s
}

// fill sets the result's figures from the difference between before and s.
func (s benchSample) fill(r *benchResult, before benchSample) {
	r.WallS = s.at.Sub(before.at).Seconds()
	r.CPUS = (s.cpu - before.cpu).Seconds()
	r.BrokerCPUS = (s.brokerCPU - before.brokerCPU).Seconds()
	dp := float64(r.Datapoints)
	r.DpPerS = dp / r.WallS
	if r.CPUS > 0 {
		r.DpPerCPUS = dp / r.CPUS
	}
	r.AllocBytesPerDp = float64(s.mem.TotalAlloc-before.mem.TotalAlloc) / dp
	r.AllocsPerDp = float64(s.mem.Mallocs-before.mem.Mallocs) / dp
	r.GCCycles = int64(s.mem.NumGC - before.mem.NumGC)
	r.GCPauseTotalS = float64(s.mem.PauseTotalNs-before.mem.PauseTotalNs) / 1e9
	// The largest pause bucket that gained counts during the run (its upper bound).
	for i := len(s.pauseHist.Counts) - 1; i >= 0; i-- {
		if s.pauseHist.Counts[i] > before.pauseHist.Counts[i] {
			r.GCPauseMaxS = s.pauseHist.Buckets[i+1]
			if math.IsInf(r.GCPauseMaxS, 1) {
				r.GCPauseMaxS = s.pauseHist.Buckets[i]
			}
			break
		}
	}
	// The GC's CPU as a share of the process's CPU (not of the CPU available, which would hide
	// it on an idle machine).
	r.GCCPUS = s.gcCPU - before.gcCPU
	if r.CPUS > 0 {
		r.GCCPUShare = r.GCCPUS / r.CPUS
	}
	r.PeakRSSBytes = s.maxRSS
}
