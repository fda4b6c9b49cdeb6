package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/parse/formats"
)

// loadgenCmd produces realistic synthetic metrics in any input format at a steady rate, spread
// over the topic's partitions by a skew, with a progress line a second on stderr and the totals
// at the end (after -duration, or on SIGINT/SIGTERM).
func loadgenCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kf := addKafkaFlags(fs, "loadgen")
	topic := fs.String("topic", "", "topic to produce to (required)")
	format := fs.String("format", "opentsdb", "input format: "+strings.Join(formats.Names, ", "))
	rate := fs.Int("rate", 100_000, "datapoints per second")
	series := fs.Int("series", 10_000, "distinct series")
	lines := fs.Int("lines-per-record", 100, "datapoints per Kafka record")
	skewFlag := fs.String("skew", "uniform", "records per partition: uniform, zipf:S or hot:P:F")
	duration := fs.Duration("duration", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	switch {
	case *topic == "":
		fmt.Fprintln(stderr, "sluice loadgen: -topic is required")
		return exitError
	case !slices.Contains(formats.Names, *format):
		fmt.Fprintf(stderr, "sluice loadgen: -format %q: use one of %s\n", *format, strings.Join(formats.Names, ", "))
		return exitError
	case *rate < 1 || *series < 1 || *lines < 1:
		fmt.Fprintln(stderr, "sluice loadgen: -rate, -series and -lines-per-record must be at least 1")
		return exitError
	}
	if !kf.resolve(stderr) {
		return exitError
	}
	sc := kf.saramaConfig()
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Return.Successes = true
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.Compression = sarama.CompressionLZ4
	client := kf.client(sc, stderr)
	if client == nil {
		return exitError
	}
	defer client.Close()
	parts, err := client.Partitions(*topic)
	if err != nil {
		fmt.Fprintf(stderr, "sluice loadgen: topic %s: %v\n", *topic, err)
		return exitError
	}
	sk, err := parseSkew(*skewFlag, len(parts))
	if err != nil {
		fmt.Fprintf(stderr, "sluice loadgen: %v\n", err)
		return exitError
	}
	prod, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		fmt.Fprintf(stderr, "sluice loadgen: %v\n", err)
		return exitError
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var acked, failed, ackedDP int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		succ, errs := prod.Successes(), prod.Errors()
		for succ != nil || errs != nil {
			select {
			case m, ok := <-succ:
				if !ok {
					succ = nil
					continue
				}
				acked++
				ackedDP += int64(m.Metadata.(int))
			case e, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				failed++
				if failed <= 5 {
					fmt.Fprintf(stderr, "sluice loadgen: produce failed: %v\n", e.Err)
				}
			}
		}
	}()

	gen := &recordGen{format: *format, lines: *lines, series: *series}
	sent := make([]float64, len(parts))
	var total float64
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	var credit float64
	var records, datapoints int64
	last := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-progress.C:
			fmt.Fprintf(stderr, "loadgen: %.0fs, %d datapoints in %d records sent, %d records acknowledged, %d failed\n",
				time.Since(start).Seconds(), datapoints, records, acked, failed)
		case now := <-tick.C:
			credit += float64(*rate) * now.Sub(last).Seconds()
			last = now
			for credit >= float64(*lines) {
				credit -= float64(*lines)
				// The partition furthest behind its share: a deterministic weighted round robin.
				p, best := 0, -1e18
				for i, w := range sk.weights {
					if d := w*(total+1) - sent[i]; d > best {
						p, best = i, d
					}
				}
				sent[p]++
				total++
				v := append([]byte(nil), gen.record(time.Now().Unix())...)
				prod.Input() <- &sarama.ProducerMessage{Topic: *topic, Partition: parts[p], Value: sarama.ByteEncoder(v), Metadata: gen.perRecord()}
				records++
				datapoints += int64(gen.perRecord())
			}
		}
	}
	prod.AsyncClose()
	<-done
	elapsed := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "sent %d datapoints in %d records over %.1f s (%.0f datapoints/s); acknowledged %d records (%d datapoints), %d failed\n",
		datapoints, records, elapsed, float64(datapoints)/elapsed, acked, ackedDP, failed)
	if failed > 0 {
		return exitError
	}
	return exitOK
}

// tailCmd consumes a Sluice output shard topic, decodes each remote-write record and prints its
// datapoints in `sluice decode`'s canonical form, prefixed with the shard (the partition).
func tailCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kf := addKafkaFlags(fs, "tail")
	topic := fs.String("topic", "", "output shard topic (default: -config's first kafka output)")
	partition := fs.Int("partition", -1, "only this partition (shard); -1: all")
	n := fs.Int("n", 0, "stop after this many datapoints (0: follow until SIGINT or SIGTERM)")
	from := fs.String("from", "newest", "where to start: oldest or newest")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if !kf.resolve(stderr) {
		return exitError
	}
	if *topic == "" && kf.cfg != nil {
		for _, o := range kf.cfg.Outputs {
			if o.Type == config.OutputKafka {
				*topic = o.Topic
				break
			}
		}
	}
	if *topic == "" {
		fmt.Fprintln(stderr, "sluice tail: -topic is required (or -config with a kafka output)")
		return exitError
	}
	offset := sarama.OffsetNewest
	switch *from {
	case "oldest":
		offset = sarama.OffsetOldest
	case "newest":
	default:
		fmt.Fprintf(stderr, "sluice tail: -from %q: use oldest or newest\n", *from)
		return exitError
	}
	sc := kf.saramaConfig()
	sc.Consumer.Return.Errors = true
	client := kf.client(sc, stderr)
	if client == nil {
		return exitError
	}
	defer client.Close()
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fmt.Fprintf(stderr, "sluice tail: %v\n", err)
		return exitError
	}
	defer cons.Close()
	parts, err := cons.Partitions(*topic)
	if err != nil {
		fmt.Fprintf(stderr, "sluice tail: topic %s: %v\n", *topic, err)
		return exitError
	}
	if *partition >= 0 {
		if !slices.Contains(parts, int32(*partition)) {
			fmt.Fprintf(stderr, "sluice tail: topic %s has no partition %d (it has %d)\n", *topic, *partition, len(parts))
			return exitError
		}
		parts = []int32{int32(*partition)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	msgs := make(chan *sarama.ConsumerMessage)
	for _, p := range parts {
		pc, err := cons.ConsumePartition(*topic, p, offset)
		if err != nil {
			fmt.Fprintf(stderr, "sluice tail: partition %d: %v\n", p, err)
			return exitError
		}
		defer pc.Close()
		go func() {
			for m := range pc.Messages() {
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var rows messages.Rows
	var line []byte
	printed := 0
	for {
		select {
		case <-ctx.Done():
			return exitOK
		case m := <-msgs:
			rows.Reset()
			remotewrite.Parse(&rows, m.Value, 0)
			for _, bad := range rows.Bad {
				fmt.Fprintf(stderr, "sluice tail: partition %d offset %d: %s\n", m.Partition, m.Offset, bad.Detail)
			}
			for i := range rows.Points {
				line = fmt.Appendf(line[:0], "shard=%d ", m.Partition)
				line = append(appendExtra(appendCanonical(line, &rows.Points[i]), rows.ExtraOf(&rows.Points[i])), '\n')
				if _, err := stdout.Write(line); err != nil {
					return exitError
				}
				if printed++; *n > 0 && printed >= *n {
					return exitOK
				}
			}
		}
	}
}
