package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/parse/formats"
)

// loadgenCmd produces realistic synthetic metrics in any input format at a steady rate, spread
// over the topic's partitions by a skew, with a progress line a second on stderr and the totals
// at the end (after -duration, or on SIGINT/SIGTERM).
func loadgenCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("loadgen", stderr)
	kf := addKafkaFlags(fs, "loadgen")
	topic := fs.String("topic", "", "topic to produce to (required)")
	format := fs.String("format", "opentsdb", "input format: "+strings.Join(formats.Names, ", "))
	rate := fs.Int("rate", 100_000, "datapoints per second")
	series := fs.Int("series", 10_000, "distinct series")
	lines := fs.Int("lines-per-record", 100, "datapoints per Kafka record")
	skewFlag := fs.String("skew", "uniform", "records per partition: uniform, zipf:S or hot:P:F")
	duration := fs.Duration("duration", 0, "stop after this long (0: until SIGINT or SIGTERM)")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
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
