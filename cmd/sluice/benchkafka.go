package main

// sluice bench's Kafka side: the broker it runs in a process of its own, the topics, the
// produced load, waiting for the group to commit it, and the bare-sarama baseline.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/procfs"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/config"
)

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
	p, err := procfs.NewProc(b.cmd.Process.Pid)
	if err != nil {
		return 0
	}
	st, err := p.Stat()
	if err != nil {
		return 0
	}
	return time.Duration(st.CPUTime() * float64(time.Second))
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

func createBenchTopics(cfg *config.Config, partitions int) error {
	topics := map[string]int{benchInTopic: partitions}
	for _, a := range cfg.Aggregates {
		topics[a.Topic] = partitions
	}
	if cfg.Outputs[0].Type == config.OutputKafka {
		topics[benchOutTopic] = cfg.Outputs[0].Shards
	}
	return createTopics(cfg, topics)
}

// benchShards is the output's shard count: Kafka partitions or an HTTP output's concurrency.
func benchShards(cfg *config.Config) int {
	if o := cfg.Outputs[0]; o.HTTP() {
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
			if done && p != nil && len(cfg.Aggregates) > 0 {
				// The aggregation stage, too, must have taken every datapoint stage A wrote.
				written, taken := p.Aggregated()
				done = taken >= written
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
