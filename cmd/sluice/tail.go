package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/latency"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
)

// tailCmd consumes a Sluice output shard topic, decodes each remote-write record and prints its
// datapoints in `sluice decode`'s canonical form, prefixed with the shard (the partition).
func tailCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("tail", stderr)
	kf := addKafkaFlags(fs, "tail")
	topic := fs.String("topic", "", "output shard topic (default: -config's first kafka output)")
	partition := fs.Int("partition", -1, "only this partition (shard); -1: all")
	n := fs.Int("n", 0, "stop after this many datapoints (0: follow until SIGINT or SIGTERM)")
	from := fs.String("from", "newest", "where to start: oldest or newest")
	isolation := fs.String("isolation", config.IsolationReadCommitted, "read_committed (only committed transactions' records: what a downstream consumer sees) or read_uncommitted")
	lat := fs.Duration("latency", 0, "instead of the datapoints, print every this often how long after their own timestamps the datapoints became readable here (end-to-end latency, as -isolation sees the topic)")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
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
	if *isolation != config.IsolationReadCommitted && *isolation != config.IsolationReadUncommitted {
		fmt.Fprintf(stderr, "sluice tail: -isolation %q: use read_committed or read_uncommitted\n", *isolation)
		return exitError
	}
	sc := kf.saramaConfig()
	sc.Consumer.Return.Errors = true
	sc.Consumer.IsolationLevel = (&config.Input{IsolationLevel: *isolation}).SaramaIsolation()
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
	var every <-chan time.Time
	var ages ageStats
	if *lat > 0 {
		t := time.NewTicker(*lat)
		defer t.Stop()
		every = t.C
	}
	for {
		select {
		case <-ctx.Done():
			if *lat > 0 {
				ages.print(stdout, "total")
			}
			return exitOK
		case <-every:
			ages.print(stdout, "interval")
			ages.interval = ageCounts{}
		case m := <-msgs:
			rows.Reset()
			remotewrite.Parse(&rows, m.Value, 0)
			for _, bad := range rows.Bad {
				fmt.Fprintf(stderr, "sluice tail: partition %d offset %d: %s\n", m.Partition, m.Offset, bad.Detail)
			}
			if *lat > 0 {
				ages.add(&rows, time.Now().UnixMilli())
				continue
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

// ageStats are tail -latency's figures: each datapoint's age when it became readable (now minus
// its timestamp), over the last interval and in all.
type ageStats struct{ interval, total ageCounts }

type ageCounts struct {
	n        int64
	sumMs    int64
	hist     latency.Hist
	min, max int64
}

func (a *ageCounts) add(ms int64) {
	if a.n == 0 || ms < a.min {
		a.min = ms
	}
	a.max = max(a.max, ms)
	a.n++
	a.sumMs += ms
	a.hist.Record(ms, 1)
}

func (s *ageStats) add(rows *messages.Rows, nowMs int64) {
	for i := range rows.Points {
		age := nowMs - rows.Points[i].Timestamp
		s.interval.add(age)
		s.total.add(age)
	}
}

// print writes one line: how many datapoints, and their age's mean, p50 and p99 (histogram
// bucket bounds, at most 25 % above) and range. Timestamps in whole seconds (OpenTSDB, Graphite,
// sluice loadgen) add half a second to the mean on average, and up to a second to each age.
func (s *ageStats) print(w io.Writer, which string) {
	a := &s.interval
	if which == "total" {
		a = &s.total
	}
	if a.n == 0 {
		fmt.Fprintf(w, "%s: no datapoints\n", which)
		return
	}
	fmt.Fprintf(w, "%s: %d datapoints, age when readable: mean %s, p50 %s, p99 %s, min %s, max %s\n", which, a.n,
		(time.Duration(a.sumMs/a.n) * time.Millisecond), a.hist.Quantile(0.5).Round(time.Millisecond), a.hist.Quantile(0.99).Round(time.Millisecond),
		time.Duration(a.min)*time.Millisecond, time.Duration(a.max)*time.Millisecond)
}
