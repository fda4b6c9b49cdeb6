package main

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/config"
)

// devConfig is the configuration of `sluice run -dev` without -config.
func devConfig(broker string) string {
	return fmt.Sprintf(`
log { level = "info" }
kafka { brokers = [%q] }
input "opentsdb" { topics = ["metrics.opentsdb"] }
output "kafka" "dev" { topic = "metrics.shards" }
denylist { globs = ["test.**"] }
`, broker)
}

// useDevBroker points a file's config at the embedded broker, which speaks plain Kafka (no TLS, no
// SASL). Everything else stays the file's: its inputs' topics, its outputs (a remote-write output
// stays a remote-write output), routes, dead letters and control topic; createTopics makes the
// file's topics on the broker.
func useDevBroker(cfg *config.Config, broker string) {
	cfg.Kafka.Brokers = []string{broker}
	cfg.Kafka.TLS, cfg.Kafka.SASL = nil, nil
}

// devShards is the dev shard topic's partition count, unless the output sets shards.
const devShards = 16

// devRetention is what the embedded broker keeps of each partition: records younger than age and,
// per partition, at most bytes (the oldest record batches go first). The broker holds its topics
// in this process's memory, so without it dev mode's heap grows with everything produced.
type devRetention struct {
	age   time.Duration
	bytes int64
}

// Dev mode's default retention: enough to look at a few minutes of output with `sluice tail`,
// small enough for a laptop (16 shard partitions + 8 input partitions × 4 MiB of compressed
// record batches at most).
const (
	defaultDevRetention      = 5 * time.Minute
	defaultDevRetentionBytes = 4 << 20
	// devTrimEvery is how often the broker trims to its retention.
	devTrimEvery = 5 * time.Second
)

// topicConfigs are the retention's topic settings. The broker drops whole segments, as Kafka
// does, and keeps a segment in memory until all of it is past retention (its default segment is
// 100 MiB), so segments are a quarter of retention.bytes: a partition holds at most about 1.25 ×
// that.
func (r devRetention) topicConfigs() map[string]*string {
	str := func(n int64) *string { s := strconv.FormatInt(n, 10); return &s }
	return map[string]*string{
		"retention.ms": str(r.age.Milliseconds()), "retention.bytes": str(r.bytes),
		"segment.bytes": str(max(r.bytes/4, 64<<10)),
	}
}

type devBrokerT struct {
	*kfake.Cluster
	retention devRetention
	stopTrim  chan struct{}
	trimDone  chan struct{}
}

// startDevBroker runs an embedded Kafka-protocol broker (kfake) listening on addr, trimming its
// topics to ret every devTrimEvery.
func startDevBroker(addr string, ret devRetention) (*devBrokerT, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-dev-broker %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("-dev-broker %q: bad port", addr)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(p),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }))
	if err != nil {
		return nil, fmt.Errorf("embedded broker on %s: %w", addr, err)
	}
	b := &devBrokerT{Cluster: c, retention: ret, stopTrim: make(chan struct{}), trimDone: make(chan struct{})}
	go func() {
		defer close(b.trimDone)
		t := time.NewTicker(devTrimEvery)
		defer t.Stop()
		for {
			select {
			case <-b.stopTrim:
				return
			case <-t.C:
				c.ApplyRetention() // what the topics' retention.ms and retention.bytes allow
			}
		}
	}()
	return b, nil
}

// Close stops trimming and the broker.
func (b *devBrokerT) Close() {
	close(b.stopTrim)
	<-b.trimDone
	b.Cluster.Close()
}

// createTopics creates the config's topics on the embedded broker: every input topic (partitions
// each), every Kafka output's shard topic (one partition per shard: its shards, or devShards), the
// dead-letter topic, the control topic and the aggregates' topics. It returns their names, sorted.
func (b *devBrokerT) createTopics(cfg *config.Config, partitions int) ([]string, error) {
	topics := map[string]int{}
	for _, in := range cfg.Inputs {
		for _, t := range in.Topics {
			topics[t] = partitions
		}
	}
	for _, o := range cfg.Outputs {
		if o.Type == config.OutputKafka {
			topics[o.Topic] = cmp.Or(o.Shards, devShards)
		}
	}
	if cfg.DeadLetter != nil {
		topics[cfg.DeadLetter.Topic] = partitions
	}
	if cfg.Control != nil {
		topics[cfg.Control.Topic] = 1
	}
	for _, a := range cfg.Aggregates {
		topics[a.Topic] = partitions
	}
	return slices.Sorted(maps.Keys(topics)), createTopicsWith(cfg, topics, b.retention.topicConfigs())
}

// embeddedAdmin is an admin client of the embedded broker cfg names (dev mode, sluice bench).
func embeddedAdmin(cfg *config.Config) (sarama.ClusterAdmin, error) {
	sc := sarama.NewConfig()
	sc.Version = cfg.Kafka.KafkaVersion
	return sarama.NewClusterAdmin(cfg.Kafka.Brokers, sc)
}

// createTopics creates each topic with its number of partitions on cfg's brokers (the embedded
// ones of dev mode and sluice bench).
func createTopics(cfg *config.Config, topics map[string]int) error {
	return createTopicsWith(cfg, topics, nil)
}

// createTopicsWith is createTopics with topic configs.
func createTopicsWith(cfg *config.Config, topics map[string]int, configs map[string]*string) error {
	adm, err := embeddedAdmin(cfg)
	if err != nil {
		return err
	}
	defer adm.Close()
	for t, n := range topics {
		if err := adm.CreateTopic(t, &sarama.TopicDetail{NumPartitions: int32(n), ReplicationFactor: 1, ConfigEntries: configs}, false); err != nil {
			return fmt.Errorf("topic %s: %w", t, err)
		}
	}
	return nil
}

// generator produces realistic OpenTSDB lines (host and service metrics over a fleet, random
// walks for values) into the opentsdb input's topic at a fixed rate of datapoints per second.
type generator struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
}

const linesPerRecord = 100

var genMetrics = []string{"sys.cpu.user", "sys.cpu.system", "sys.cpu.iowait", "sys.mem.used", "sys.mem.free",
	"sys.disk.read_bytes", "sys.disk.write_bytes", "net.if.bytes_in", "net.if.bytes_out",
	"app.http.requests", "app.http.latency_p99", "app.db.queries", "app.cache.hits", "app.cache.misses",
	"jvm.gc.pause_ms", "jvm.heap.used"}

func startGenerator(cfg *config.Config, rate int, log hclog.Logger) *generator {
	g := &generator{stopCh: make(chan struct{})}
	sc := sarama.NewConfig()
	sc.Version = cfg.Kafka.KafkaVersion
	sc.Producer.Return.Errors = true
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.Compression = sarama.CompressionLZ4
	prod, err := sarama.NewAsyncProducer(cfg.Kafka.Brokers, sc)
	if err != nil {
		log.Error("generator: cannot produce", "error", err)
		return nil
	}
	topic := ""
	for _, in := range cfg.Inputs {
		if in.Format == "opentsdb" {
			topic = in.Topics[0]
		}
	}
	if topic == "" {
		log.Warn("generator: it writes OpenTSDB lines and the config has no opentsdb input; not generating")
		return nil
	}
	log.Info("generating datapoints", "rate_per_s", rate, "topic", topic)
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		for err := range prod.Errors() {
			log.Warn("generator: produce failed", "error", err)
		}
	}()
	go func() {
		defer g.wg.Done()
		defer prod.AsyncClose()
		const tick = 10 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		values := make([]float64, 4096)
		credit := 0.0
		var buf []byte
		seq := 0
		for {
			select {
			case <-g.stopCh:
				return
			case <-t.C:
			}
			credit += float64(rate) * tick.Seconds()
			now := time.Now().Unix()
			for credit >= 1 {
				n := min(linesPerRecord, int(credit))
				credit -= float64(n)
				buf = buf[:0]
				for i := 0; i < n; i++ {
					seq++
					s := r.IntN(len(values))
					values[s] = math.Abs(values[s] + r.NormFloat64())
					buf = append(buf, "put "...)
					buf = append(buf, genMetrics[s%len(genMetrics)]...)
					buf = append(buf, ' ')
					buf = strconv.AppendInt(buf, now, 10)
					buf = append(buf, ' ')
					buf = strconv.AppendFloat(buf, values[s], 'f', 3, 64)
					buf = append(buf, " host=web"...)
					buf = strconv.AppendInt(buf, int64(s/len(genMetrics)), 10)
					buf = append(buf, " dc=us-east-"...)
					buf = strconv.AppendInt(buf, int64(s%3+1), 10)
					buf = append(buf, " env=prod\n"...)
				}
				prod.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(append([]byte(nil), buf...))}
			}
		}
	}()
	return g
}

func (g *generator) stop() {
	if g == nil {
		return
	}
	close(g.stopCh)
	g.wg.Wait()
}

// devSample is one line of each text format, with the shell substitution for its timestamp.
var devSample = map[string]string{
	"opentsdb":   `put sys.cpu.user $(date +%s) 42 host=web01`,
	"graphite":   `sys.cpu.user 42 $(date +%s)`,
	"influx":     `cpu,host=web01 user=42 $(date +%s%N)`,
	"prometheus": `sys_cpu_user{host="web01"} 42`,
	"json":       `{"metric":"sys.cpu.user","timestamp":$(date +%s),"value":42,"tags":{"host":"web01"}}`,
}

// devHints are the three commands a newcomer wants once dev mode runs: produce a line, watch the
// output, read the metrics.
func devHints(cfg *config.Config, metricsAddr string) (produce, tail, metrics, page, statusCmd string) {
	in := cfg.Inputs[0]
	for _, i := range cfg.Inputs {
		if _, ok := devSample[i.Format]; ok {
			in = i
			break
		}
	}
	broker, self := cfg.Kafka.Brokers[0], selfCommand()
	if line, ok := devSample[in.Format]; ok {
		produce = fmt.Sprintf("echo \"%s\" | %s produce -brokers %s -topic %s", strings.ReplaceAll(line, `"`, `\"`), self, broker, in.Topics[0])
	} else {
		produce = fmt.Sprintf("%s loadgen -brokers %s -topic %s -format %s", self, broker, in.Topics[0], in.Format)
	}
	tail = "no Kafka output to tail: read your remote-write receiver"
	for _, o := range cfg.Outputs {
		if o.Type == config.OutputKafka {
			tail = fmt.Sprintf("%s tail -brokers %s -topic %s", self, broker, o.Topic)
			break
		}
	}
	metrics = fmt.Sprintf("curl -s http://%s/metrics | grep ^sluice_", metricsAddr)
	page = fmt.Sprintf("http://%s/", metricsAddr)
	statusCmd = fmt.Sprintf("%s status -address %s", self, metricsAddr)
	return produce, tail, metrics, page, statusCmd
}

// selfCommand is how the user runs this binary, for hints they can paste: the path it was started
// as, or `go run ./cmd/sluice` when `go run` built it in a temporary directory.
func selfCommand() string {
	if arg0 := os.Args[0]; !strings.Contains(arg0, "go-build") {
		return arg0
	}
	return "go run ./cmd/sluice"
}
