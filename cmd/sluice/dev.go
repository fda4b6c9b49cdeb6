package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
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

// devTopics points a file's config at the embedded broker and dev mode's topics: each input
// reads metrics.<format>, the output writes metrics.shards. Everything else stays the file's.
func devTopics(cfg *config.Config, broker string) {
	cfg.Kafka.Brokers = []string{broker}
	cfg.Kafka.TLS, cfg.Kafka.SASL = nil, nil // the embedded broker speaks plain Kafka
	for _, in := range cfg.Inputs {
		in.Topics = []string{"metrics." + in.Format}
	}
	// Dev mode's broker holds the one shard topic: the file's outputs become one Kafka output.
	o := cfg.Outputs[0]
	o.Type, o.Topic = config.OutputKafka, "metrics.shards"
	cfg.Outputs, cfg.Routes = []*config.Output{o}, nil
}

// devShards is the dev shard topic's partition count, unless the output sets shards.
const devShards = 16

type devBrokerT struct{ *kfake.Cluster }

// startDevBroker runs an embedded Kafka-protocol broker (kfake) listening on addr.
func startDevBroker(addr string) (*devBrokerT, error) {
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
	return &devBrokerT{c}, nil
}

// createTopics creates the input topics, the dead-letter topic if any, and an output topic with
// one partition per shard.
func (b *devBrokerT) createTopics(cfg *config.Config, partitions int) error {
	shards := cfg.Outputs[0].Shards
	if shards == 0 {
		shards = devShards
	}
	topics := map[string]int{cfg.Outputs[0].Topic: shards}
	for _, in := range cfg.Inputs {
		for _, t := range in.Topics {
			topics[t] = partitions
		}
	}
	if cfg.DeadLetter != nil {
		topics[cfg.DeadLetter.Topic] = partitions
	}
	return createTopics(cfg, topics)
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
	adm, err := embeddedAdmin(cfg)
	if err != nil {
		return err
	}
	defer adm.Close()
	for t, n := range topics {
		if err := adm.CreateTopic(t, &sarama.TopicDetail{NumPartitions: int32(n), ReplicationFactor: 1}, false); err != nil {
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
