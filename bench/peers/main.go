// Command peers runs Sluice and the tools SREs run today side by side on one input, on one
// machine, and prints one table: CPU seconds, datapoints per CPU second, what each delivered, peak
// RSS, and each tool's ratio to Sluice on the same path.
//
//	make peers                       # builds everything, 3 rounds of the full input
//	go run . -sluice ../../bin/sluice -telegraf T -vmagent V -rounds 3
//
// The input is agent-shaped InfluxDB line protocol, as Telegraf writes it: 4 tags and 3 fields a
// line (3 datapoints), 100 lines a Kafka record, records unkeyed over 8 partitions of a broker in
// a process of its own (kfake, run by the sluice binary's bench broker mode). Every series gets a
// distinct timestamp per line, so a TSDB that keeps one sample per (series, timestamp) counts
// exactly what arrived.
//
// The paths, each run in turn in every round (fresh consumer group, output topic and
// VictoriaMetrics each time):
//
//	sluice   kafka         sluice run: the input topic to a Kafka shard topic
//	telegraf kafka         Telegraf: inputs.kafka_consumer to outputs.kafka (influx)
//	sluice   remote_write  sluice run: the input topic to VictoriaMetrics over remote write
//	vmagent  remote_write  vmagent: the same lines over its influx TCP listener (it reads no
//	                       Kafka: that is vmagent Enterprise) to VictoriaMetrics
//	telegraf remote_write  Telegraf: inputs.kafka_consumer to outputs.http (prometheusremotewrite)
//	sarama   consume       only with -tools: Sluice's sarama settings consuming and committing the
//	                       input and doing nothing else, the ceiling of the consume side
//
// -cpus pins the measured tools (not the broker or VictoriaMetrics) with taskset, for scaling
// runs: compare the wall time of -cpus 0 with -cpus 0-1 in the JSON or the per-run lines.
//
// A tool's CPU is its process's user+system time from the start until everything was committed
// (the Kafka readers: the group's offsets reach the input's end) or inserted (vmagent: the
// receiver counted every row); the broker's and VictoriaMetrics' are not counted. Peak RSS is the
// process's VmHWM at that moment. Delivered is counted on the output afterwards: the shard topic
// read back and decoded, or VictoriaMetrics' count of samples (deduplicated per series and
// timestamp).
//
// It is a benchmark, not a test: CI builds it and runs one small round to prove it works.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/procfs"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/formats"
)

const (
	inTopic     = "peers.in"
	perLine     = 3 // fields per line: datapoints per line
	brokerEnv   = "SLUICE_BENCH_BROKER"
	kafkaPath   = "kafka"
	rwPath      = "remote_write"
	consumePath = "consume"
	pollPeriod  = 250 * time.Millisecond
)

type options struct {
	sluice, telegraf, vmagent, vm string
	lines, series, perRecord      int
	partitions, rounds            int
	tools, cpus                   string
	stall                         time.Duration
	jsonOut, logDir               string
}

// result is one tool's run in one round.
type result struct {
	Tool      string  `json:"tool"`
	Path      string  `json:"path"`
	Round     int     `json:"round"`
	CPUS      float64 `json:"cpu_s"`
	WallS     float64 `json:"wall_s"`
	PeakRSS   int64   `json:"peak_rss_bytes"`
	Read      int64   `json:"datapoints_in"`
	Delivered int64   `json:"datapoints_delivered"`
	DpPerCPUS float64 `json:"dp_per_cpu_s"`
	Stalled   bool    `json:"stalled"`
}

// run is one tool on one path.
type run struct {
	tool, path string
	fn         func(b *bench, round int) (result, error)
}

var allRuns = []run{
	{"sluice", kafkaPath, (*bench).sluiceKafka},
	{"telegraf", kafkaPath, (*bench).telegrafKafka},
	{"sluice", rwPath, (*bench).sluiceRW},
	{"vmagent", rwPath, (*bench).vmagentRW},
	{"telegraf", rwPath, (*bench).telegrafRW},
	// Not run unless asked for: the ceiling of the consume side, Sluice's sarama settings doing
	// nothing but consume and commit (consume.go).
	{"sarama", consumePath, (*bench).saramaConsume},
}

func main() {
	if spec := os.Getenv(consumeEnv); spec != "" {
		if err := bareConsume(spec); err != nil {
			fmt.Fprintln(os.Stderr, "peers: bare consumer:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.sluice, "sluice", "", "the sluice binary (required; also runs the broker)")
	flag.StringVar(&o.telegraf, "telegraf", os.Getenv("SLUICE_TELEGRAF"), "the telegraf binary (built with the tags in bench/peers/tools.sh)")
	flag.StringVar(&o.vmagent, "vmagent", os.Getenv("SLUICE_VMAGENT"), "the vmagent binary")
	flag.StringVar(&o.vm, "victoria-metrics", "victoria-metrics", "the VictoriaMetrics single-node binary")
	flag.IntVar(&o.lines, "lines", 3_000_000, "influx lines in the input (3 datapoints each)")
	flag.IntVar(&o.series, "series", 3000, "distinct series in the input (a third of it tag sets)")
	flag.IntVar(&o.perRecord, "lines-per-record", 100, "lines per Kafka record")
	flag.IntVar(&o.partitions, "partitions", 8, "partitions of the input topic and of the Kafka outputs")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every tool once, in turn")
	flag.StringVar(&o.tools, "tools", "", "comma-separated runs to do, as tool/path (e.g. sluice/kafka,telegraf/kafka); default all")
	flag.StringVar(&o.cpus, "cpus", "", "run each measured tool under taskset -c with this CPU list (e.g. 0 or 0-1); the broker and VictoriaMetrics are not pinned")
	flag.DurationVar(&o.stall, "stall", 60*time.Second, "a run that makes no progress this long is stopped and reported with what it lost")
	flag.StringVar(&o.jsonOut, "json", "", "also write every run's result here as JSON")
	flag.StringVar(&o.logDir, "logs", "", "keep each process's log here (default: a temporary directory, removed)")
	flag.Parse()
	if err := mainErr(o); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func mainErr(o options) error {
	if o.sluice == "" {
		return errors.New("-sluice is required")
	}
	runs, err := selectRuns(o.tools)
	if err != nil {
		return err
	}
	for _, r := range runs {
		// sarama/consume re-executes this binary: it needs nothing else.
		bin := map[string]string{"sluice": o.sluice, "telegraf": o.telegraf, "vmagent": o.vmagent, "sarama": "self"}[r.tool]
		if bin == "" {
			return fmt.Errorf("-%s is required for %s/%s (or leave that run out with -tools)", r.tool, r.tool, r.path)
		}
		if r.path == rwPath {
			if _, err := exec.LookPath(o.vm); err != nil {
				return fmt.Errorf("%s/%s needs VictoriaMetrics: %v", r.tool, r.path, err)
			}
		}
	}
	if o.lines%o.perRecord != 0 {
		return fmt.Errorf("-lines must be a multiple of -lines-per-record")
	}
	tmp, err := os.MkdirTemp("", "sluice-peers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	logDir := o.logDir
	if logDir == "" {
		logDir = filepath.Join(tmp, "logs")
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	b := &bench{o: o, tmp: tmp, logDir: logDir, gen: newGen(o.series, o.perRecord, time.Now().Add(-10*time.Minute))}
	if err := b.startBroker(); err != nil {
		return err
	}
	defer b.broker.stop(5 * time.Second)
	start := time.Now()
	if err := b.produceInput(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "peers: input: %d lines, %d datapoints, %d records over %d partitions in %.1fs\n",
		o.lines, b.datapoints(), len(b.gen.records(o.lines)), o.partitions, time.Since(start).Seconds())

	var results []result
	for round := 1; round <= o.rounds; round++ {
		for _, r := range runs {
			res, err := r.fn(b, round)
			if err != nil {
				return fmt.Errorf("round %d, %s/%s: %w (logs in %s)", round, r.tool, r.path, err, logDir)
			}
			res.Tool, res.Path, res.Round = r.tool, r.path, round
			res.Read = b.datapoints()
			if res.CPUS > 0 {
				res.DpPerCPUS = float64(res.Read) / res.CPUS
			}
			fmt.Fprintf(os.Stderr, "peers: round %d %-8s %-12s cpu %.2fs wall %.1fs %.0f dp/cpu-s delivered %d/%d peak rss %d MiB%s\n",
				round, r.tool, r.path, res.CPUS, res.WallS, res.DpPerCPUS, res.Delivered, res.Read, res.PeakRSS>>20,
				map[bool]string{true: " (stalled)"}[res.Stalled])
			results = append(results, res)
		}
	}
	if o.jsonOut != "" {
		data, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, data, 0o644); err != nil {
			return err
		}
	}
	printTable(os.Stdout, o, runs, results)
	for _, r := range results {
		if r.Delivered < r.Read && r.Tool == "sluice" {
			return fmt.Errorf("sluice delivered %d of %d datapoints on %s in round %d", r.Delivered, r.Read, r.Path, r.Round)
		}
	}
	return nil
}

func selectRuns(spec string) ([]run, error) {
	if spec == "" {
		return slices.DeleteFunc(slices.Clone(allRuns), func(r run) bool { return r.tool == "sarama" }), nil
	}
	var out []run
	for _, s := range strings.Split(spec, ",") {
		i := slices.IndexFunc(allRuns, func(r run) bool { return r.tool+"/"+r.path == strings.TrimSpace(s) })
		if i < 0 {
			return nil, fmt.Errorf("-tools: unknown run %q (one of sluice/kafka, telegraf/kafka, sluice/remote_write, vmagent/remote_write, telegraf/remote_write, sarama/consume)", s)
		}
		out = append(out, allRuns[i])
	}
	return out, nil
}

// bench holds what every run shares: the broker, the input and the scratch space.
type bench struct {
	o      options
	tmp    string
	logDir string
	gen    *gen
	broker *proc
	addr   string
	ends   []int64
}

func (b *bench) datapoints() int64 { return int64(b.o.lines) * perLine }

// proc is a child process whose CPU and memory are measured.
type proc struct {
	name  string
	cmd   *exec.Cmd
	log   *os.File
	start time.Time
	done  chan struct{}
	stdin io.WriteCloser
}

func (b *bench) startProc(name string, env []string, bin string, args ...string) (*proc, error) {
	log, err := os.Create(filepath.Join(b.logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	if b.o.cpus != "" && !strings.HasPrefix(name, "victoria-metrics") {
		// taskset execs the tool in its own process, so the pid measured is the tool's; Go takes
		// GOMAXPROCS from the affinity mask, as it takes it from a container's CPU limit.
		args = append([]string{"-c", b.o.cpus, bin}, args...)
		bin = "taskset"
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	p := &proc{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p.start = time.Now()
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// usage is the process's CPU seconds so far and its peak RSS in bytes, from /proc.
func (p *proc) usage() (float64, int64, error) {
	pp, err := procfs.NewProc(p.cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	st, err := pp.Stat()
	if err != nil {
		return 0, 0, err
	}
	status, err := pp.NewStatus()
	if err != nil {
		return 0, 0, err
	}
	return st.CPUTime(), int64(status.VmHWM), nil
}

// stop sends SIGTERM and waits up to timeout before killing.
func (p *proc) stop(timeout time.Duration) {
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// logTail is the end of the process's log, for an error.
func (p *proc) logTail() string {
	data, _ := os.ReadFile(p.log.Name())
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// startBroker runs the sluice binary as the bench's kfake broker (SLUICE_BENCH_BROKER) and reads
// its address from its first line.
func (b *bench) startBroker() error {
	cmd := exec.Command(b.o.sluice)
	cmd.Env = append(os.Environ(), brokerEnv+"=1")
	log, err := os.Create(filepath.Join(b.logDir, "broker.log"))
	if err != nil {
		return err
	}
	cmd.Stderr = log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the broker: %w", err)
	}
	p := &proc{name: "broker", cmd: cmd, log: log, done: make(chan struct{}), stdin: stdin, start: time.Now()}
	line, err := bufio.NewReader(out).ReadString('\n')
	go func() { _ = cmd.Wait(); close(p.done) }()
	if err != nil {
		p.stop(time.Second)
		return fmt.Errorf("the broker wrote no address: %v: %s", err, p.logTail())
	}
	b.broker, b.addr = p, strings.TrimSpace(line)
	return nil
}

func (b *bench) saramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_0_0_0
	sc.ClientID = "sluice-peers"
	return sc
}

func (b *bench) createTopic(name string) error {
	admin, err := sarama.NewClusterAdmin([]string{b.addr}, b.saramaConfig())
	if err != nil {
		return err
	}
	defer admin.Close()
	return admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: int32(b.o.partitions), ReplicationFactor: 1}, false)
}

// produceInput writes the input topic: record i to partition i mod partitions, no key.
func (b *bench) produceInput() error {
	if err := b.createTopic(inTopic); err != nil {
		return err
	}
	sc := b.saramaConfig()
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Return.Successes = true
	sc.Producer.Flush.Bytes = 256 << 10 // under the broker's 1 MB message limit
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	prod, err := sarama.NewAsyncProducer([]string{b.addr}, sc)
	if err != nil {
		return err
	}
	recs := b.gen.records(b.o.lines)
	errc := make(chan error, 1)
	go func() {
		var first error
		for i := 0; i < len(recs); i++ {
			select {
			case <-prod.Successes():
			case e := <-prod.Errors():
				if first == nil {
					first = e.Err
				}
			}
		}
		errc <- first
	}()
	for i, r := range recs {
		prod.Input() <- &sarama.ProducerMessage{Topic: inTopic, Partition: int32(i % b.o.partitions), Value: sarama.ByteEncoder(r)}
	}
	if err := <-errc; err != nil {
		_ = prod.Close()
		return fmt.Errorf("producing the input: %w", err)
	}
	if err := prod.Close(); err != nil {
		return err
	}
	b.ends, err = b.endOffsets(inTopic)
	return err
}

func (b *bench) endOffsets(topic string) ([]int64, error) {
	client, err := sarama.NewClient([]string{b.addr}, b.saramaConfig())
	if err != nil {
		return nil, err
	}
	defer client.Close()
	ends := make([]int64, b.o.partitions)
	for p := range ends {
		if ends[p], err = client.GetOffset(topic, int32(p), sarama.OffsetNewest); err != nil {
			return nil, err
		}
	}
	return ends, nil
}

// committed is how many of the input's records the group has committed, summed over partitions.
func (b *bench) committed(admin sarama.ClusterAdmin, group string) (int64, error) {
	parts := make([]int32, b.o.partitions)
	for i := range parts {
		parts[i] = int32(i)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{inTopic: parts})
	if err != nil {
		return 0, err
	}
	var n int64
	for p, blk := range resp.Blocks[inTopic] {
		if blk != nil && blk.Offset > 0 {
			n += min(blk.Offset, b.ends[p])
		}
	}
	return n, nil
}

func (b *bench) inputRecords() int64 {
	var n int64
	for _, e := range b.ends {
		n += e
	}
	return n
}

// waitCommitted waits until group has committed the whole input, or stalls, or p exits; it
// returns p's CPU and peak RSS at that moment.
func (b *bench) waitCommitted(p *proc, group string) (res result, err error) {
	admin, err := sarama.NewClusterAdmin([]string{b.addr}, b.saramaConfig())
	if err != nil {
		return res, err
	}
	defer admin.Close()
	return b.waitFor(p, func() (int64, bool, error) {
		n, err := b.committed(admin, group)
		return n, n >= b.inputRecords(), err
	})
}

// waitFor polls progress until it says done, or makes no progress for the stall time, or p
// exits; then it takes p's usage.
func (b *bench) waitFor(p *proc, progress func() (int64, bool, error)) (res result, err error) {
	last, lastMove := int64(-1), time.Now()
	for {
		if p.exited() {
			return res, fmt.Errorf("%s exited early: %s", p.name, p.logTail())
		}
		n, done, err := progress()
		if err == nil && n != last {
			last, lastMove = n, time.Now()
		}
		if done || time.Since(lastMove) > b.o.stall {
			res.Stalled = !done
			res.WallS = time.Since(p.start).Seconds()
			res.CPUS, res.PeakRSS, err = p.usage()
			return res, err
		}
		time.Sleep(pollPeriod)
	}
}

// countTopic reads topic from its start to its end and counts the datapoints its records hold
// in format.
func (b *bench) countTopic(topic, format string) (int64, error) {
	dec, err := formats.New(format, formats.Options{InfluxPrecision: "ns", InfluxSeparator: "_"})
	if err != nil {
		return 0, err
	}
	ends, err := b.endOffsets(topic)
	if err != nil {
		return 0, err
	}
	consumer, err := sarama.NewConsumer([]string{b.addr}, b.saramaConfig())
	if err != nil {
		return 0, err
	}
	defer consumer.Close()
	var rows messages.Rows
	var n, bad int64
	for p, end := range ends {
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, int32(p), sarama.OffsetOldest)
		if err != nil {
			return 0, err
		}
		for m := range pc.Messages() {
			rows.Reset()
			dec.Decode(&rows, m.Value, m.Timestamp.UnixMilli())
			n += int64(len(rows.Points))
			bad += int64(len(rows.Bad))
			if m.Offset+1 >= end {
				break
			}
		}
		_ = pc.Close()
	}
	if bad > 0 {
		return n, fmt.Errorf("%s: %d lines did not decode as %s", topic, bad, format)
	}
	return n, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// sluiceRun runs `sluice run` with its defaults on a config reading the input into output.
func (b *bench) sluiceRun(round int, path, output string) (result, error) {
	group := fmt.Sprintf("peers-sluice-%s-%d", path, round)
	cfg := fmt.Sprintf("kafka {\n  brokers = [%q]\n}\ninput \"influx\" {\n  topics = [%q]\n  group = %q\n}\n%s",
		b.addr, inTopic, group, output)
	file := filepath.Join(b.tmp, group+".hcl")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		return result{}, err
	}
	p, err := b.startProc(group, nil, b.o.sluice, "run", "-config", file, "-http", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	res, err := b.waitCommitted(p, group)
	p.stop(30 * time.Second)
	return res, err
}

func (b *bench) sluiceKafka(round int) (result, error) {
	topic := fmt.Sprintf("peers.out.sluice.%d", round)
	if err := b.createTopic(topic); err != nil {
		return result{}, err
	}
	res, err := b.sluiceRun(round, kafkaPath, fmt.Sprintf("output \"kafka\" \"shards\" {\n  topic = %q\n}\n", topic))
	if err != nil {
		return res, err
	}
	res.Delivered, err = b.countTopic(topic, "remote_write")
	return res, err
}

func (b *bench) sluiceRW(round int) (result, error) {
	return b.withVM(fmt.Sprintf("sluice-%d", round), func(vm *vmServer) (result, error) {
		return b.sluiceRun(round, rwPath, fmt.Sprintf("output \"remote_write\" \"vm\" {\n  urls = [%q]\n}\n", vm.url+"/api/v1/write"))
	})
}

// withVM runs fn against a fresh VictoriaMetrics and then counts what it holds as delivered.
func (b *bench) withVM(name string, fn func(vm *vmServer) (result, error)) (result, error) {
	vm, err := b.startVM(name)
	if err != nil {
		return result{}, err
	}
	defer vm.stop()
	res, err := fn(vm)
	if err != nil {
		return res, err
	}
	res.Delivered, err = vm.count()
	return res, err
}

// telegrafConf is Telegraf's config for reading the input: the Kafka version Sluice's default
// says (sarama's default makes kfake close the fetch), the agent's defaults but a one-second
// flush (its default is 10 s) and a buffer that holds what the consumer may have in flight
// (max_undelivered_messages × lines per record), so the buffer does not overflow by design.
func (b *bench) telegrafConf(group, output string) string {
	return fmt.Sprintf(`[agent]
  interval = "10s"
  flush_interval = "1s"
  metric_batch_size = 5000
  metric_buffer_limit = %d
  omit_hostname = true

[[inputs.kafka_consumer]]
  brokers = [%q]
  topics = [%q]
  consumer_group = %q
  version = "3.6.0"
  offset = "oldest"
  max_undelivered_messages = 1000
  data_format = "influx"

%s`, 1000*b.o.perRecord*2, b.addr, inTopic, group, output)
}

func (b *bench) telegrafRun(round int, path, output string) (result, error) {
	group := fmt.Sprintf("peers-telegraf-%s-%d", path, round)
	file := filepath.Join(b.tmp, group+".conf")
	if err := os.WriteFile(file, []byte(b.telegrafConf(group, output)), 0o644); err != nil {
		return result{}, err
	}
	p, err := b.startProc(group, nil, b.o.telegraf, "--config", file)
	if err != nil {
		return result{}, err
	}
	res, err := b.waitCommitted(p, group)
	p.stop(30 * time.Second)
	return res, err
}

func (b *bench) telegrafKafka(round int) (result, error) {
	topic := fmt.Sprintf("peers.out.telegraf.%d", round)
	if err := b.createTopic(topic); err != nil {
		return result{}, err
	}
	res, err := b.telegrafRun(round, kafkaPath, fmt.Sprintf(`[[outputs.kafka]]
  brokers = [%q]
  topic = %q
  version = "3.6.0"
  data_format = "influx"
`, b.addr, topic))
	if err != nil {
		return res, err
	}
	res.Delivered, err = b.countTopic(topic, "influx")
	return res, err
}

func (b *bench) telegrafRW(round int) (result, error) {
	return b.withVM(fmt.Sprintf("telegraf-%d", round), func(vm *vmServer) (result, error) {
		return b.telegrafRun(round, rwPath, fmt.Sprintf(`[[outputs.http]]
  url = %q
  data_format = "prometheusremotewrite"
  [outputs.http.headers]
    Content-Type = "application/x-protobuf"
    Content-Encoding = "snappy"
    X-Prometheus-Remote-Write-Version = "0.1.0"
`, vm.url+"/api/v1/write"))
	})
}

// vmagentRW runs vmagent with an influx TCP listener and sends it the input's lines, then waits
// until VictoriaMetrics has inserted them all (or nothing moves for the stall time).
func (b *bench) vmagentRW(round int) (result, error) {
	return b.withVM(fmt.Sprintf("vmagent-%d", round), func(vm *vmServer) (result, error) { return b.vmagent(round, vm) })
}

func (b *bench) vmagent(round int, vm *vmServer) (result, error) {
	influx, err := freePort()
	if err != nil {
		return result{}, err
	}
	httpAddr, err := freePort()
	if err != nil {
		return result{}, err
	}
	name := fmt.Sprintf("vmagent-%d", round)
	p, err := b.startProc(name, nil, b.o.vmagent,
		"-influxListenAddr="+influx, "-httpListenAddr="+httpAddr,
		"-remoteWrite.url="+vm.url+"/api/v1/write",
		"-remoteWrite.tmpDataPath="+filepath.Join(b.tmp, name+"-data"), "-loggerLevel=WARN")
	if err != nil {
		return result{}, err
	}
	defer p.stop(30 * time.Second)
	var conn net.Conn
	for deadline := time.Now().Add(30 * time.Second); ; {
		if conn, err = net.Dial("tcp", influx); err == nil {
			break
		}
		if time.Now().After(deadline) || p.exited() {
			return result{}, fmt.Errorf("vmagent's influx listener: %v: %s", err, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	w := bufio.NewWriterSize(conn, 256<<10)
	for _, r := range b.gen.records(b.o.lines) {
		if _, err := w.Write(r); err != nil {
			return result{}, err
		}
	}
	if err := w.Flush(); err != nil {
		return result{}, err
	}
	_ = conn.Close()
	return b.waitFor(p, func() (int64, bool, error) {
		n, err := vm.inserted()
		return n, n >= b.datapoints(), err
	})
}

// vmServer is a VictoriaMetrics single node with its own data directory for one run.
type vmServer struct {
	p   *proc
	url string
}

func (b *bench) startVM(name string) (*vmServer, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := b.startProc("victoria-metrics-"+name, nil, b.o.vm,
		"-storageDataPath="+filepath.Join(b.tmp, "vm-"+name), "-httpListenAddr="+addr,
		"-dedup.minScrapeInterval=1ms", "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN")
	if err != nil {
		return nil, err
	}
	vm := &vmServer{p: p, url: "http://" + addr}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(vm.url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return vm, nil
			}
		}
		if time.Now().After(deadline) || p.exited() {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("VictoriaMetrics did not start: %v: %s", err, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (vm *vmServer) stop() { vm.p.stop(10 * time.Second) }

// inserted is the rows VictoriaMetrics' remote-write and influx handlers took so far.
func (vm *vmServer) inserted() (int64, error) {
	resp, err := http.Get(vm.url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, `vm_rows_inserted_total{type="promremotewrite"}`) {
			f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				return 0, err
			}
			n += f
		}
	}
	return int64(n), sc.Err()
}

// count is the number of samples VictoriaMetrics holds, one per series and timestamp.
func (vm *vmServer) count() (int64, error) {
	resp, err := http.Get(vm.url + "/internal/force_flush")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	q := url.Values{"query": {`sum(count_over_time({__name__=~".+"}[1d]))`}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", vm.url+"/api/v1/query?"+q.Encode(), nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("VictoriaMetrics query: %s", body.Error)
	}
	if len(body.Data.Result) == 0 {
		return 0, nil
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	return int64(f), err
}

// printTable writes the markdown table: per run, the range over rounds and the median.
func printTable(w io.Writer, o options, runs []run, results []result) {
	fmt.Fprintf(w, "\n%d lines (%d datapoints, %d series), %d lines a record over %d partitions, %d rounds\n\n",
		o.lines, int64(o.lines)*perLine, o.series, o.perRecord, o.partitions, o.rounds)
	fmt.Fprintln(w, "| tool | path | CPU s | datapoints per CPU-s (median) | delivered | peak RSS MiB | Sluice's lead (paired rounds) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range runs {
		var cpu, rate, rss, lead []float64
		var delivered, read int64
		stalled := 0
		for _, x := range results {
			if x.Tool != r.tool || x.Path != r.path {
				continue
			}
			cpu = append(cpu, x.CPUS)
			rate = append(rate, x.DpPerCPUS)
			rss = append(rss, float64(x.PeakRSS)/(1<<20))
			delivered += x.Delivered
			read += x.Read
			if x.Stalled {
				stalled++
			}
			if r.tool == "sluice" {
				continue
			}
			for _, s := range results {
				if s.Tool == "sluice" && s.Path == x.Path && s.Round == x.Round && x.DpPerCPUS > 0 {
					lead = append(lead, s.DpPerCPUS/x.DpPerCPUS)
				}
			}
		}
		if len(cpu) == 0 {
			continue
		}
		del := fmt.Sprintf("%.1f %%", 100*float64(delivered)/float64(max(read, 1)))
		if stalled > 0 {
			del += fmt.Sprintf(" (%d stalled)", stalled)
		}
		leadS := "—"
		if len(lead) > 0 {
			leadS = spread(lead, "%.2f×")
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s (%s) | %s | %s | %s |\n", r.tool, r.path, spread(cpu, "%.2f"),
			spread(scale(rate, 1e-6), "%.2f M"), fmt.Sprintf("%.2f M", median(rate)/1e6), del, spread(rss, "%.0f"), leadS)
	}
}

func scale(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

func spread(xs []float64, f string) string {
	lo, hi := slices.Min(xs), slices.Max(xs)
	if fmt.Sprintf(f, lo) == fmt.Sprintf(f, hi) {
		return fmt.Sprintf(f, lo)
	}
	return fmt.Sprintf(f, lo) + "–" + fmt.Sprintf(f, hi)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
