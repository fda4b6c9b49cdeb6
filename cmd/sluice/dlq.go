package main

// sluice dlq stats: what the dead-letter topic holds, for the on-call (docs/control.md).

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/IBM/sarama"
)

// dlqCmd is `sluice dlq stats (-config FILE | -brokers B) [-topic T]`: the dead-letter topic's records by reason,
// source topic and age.
func dlqCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "stats" {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(stdout, lookup("dlq").heading())
			return exitOK
		}
		fmt.Fprint(stderr, lookup("dlq").heading())
		return exitError
	}
	fs := newFlags("dlq stats", stderr)
	kf := addKafkaFlags(fs, "dlq stats")
	topic := fs.String("topic", "", "the dead-letter topic (default: -config's dead_letter topic)")
	if err := fs.Parse(args[1:]); err != nil {
		return parseExit(err)
	}
	if !kf.resolve(stderr) {
		return exitError
	}
	if *topic == "" && kf.cfg != nil && kf.cfg.DeadLetter != nil {
		*topic = kf.cfg.DeadLetter.Topic
	}
	if *topic == "" {
		fmt.Fprintln(stderr, "sluice dlq stats: -topic is required (or -config with a dead_letter block)")
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
		fmt.Fprintf(stderr, "sluice dlq stats: %v\n", err)
		return exitError
	}
	defer cons.Close()
	parts, err := client.Partitions(*topic)
	if err != nil {
		fmt.Fprintf(stderr, "sluice dlq stats: topic %s: %v\n", *topic, err)
		return exitError
	}
	ages := []struct {
		name string
		max  time.Duration
	}{{"<1h", time.Hour}, {"<1d", 24 * time.Hour}, {"<7d", 7 * 24 * time.Hour}, {">=7d", 1<<63 - 1}}
	type key struct{ reason, source string }
	byKey := map[key][]int{}
	total, now := 0, time.Now()
	var oldest time.Time
	for _, p := range parts {
		end, err1 := client.GetOffset(*topic, p, sarama.OffsetNewest)
		start, err2 := client.GetOffset(*topic, p, sarama.OffsetOldest)
		if err1 != nil || err2 != nil {
			fmt.Fprintf(stderr, "sluice dlq stats: offsets of partition %d: %v %v\n", p, err1, err2)
			return exitError
		}
		if start >= end {
			continue
		}
		pc, err := cons.ConsumePartition(*topic, p, start)
		if err != nil {
			fmt.Fprintf(stderr, "sluice dlq stats: %v\n", err)
			return exitError
		}
		for off := start; off < end; {
			m := <-pc.Messages()
			off = m.Offset + 1
			h := dlHeaders(m)
			k := key{h.reason, h.source}
			if byKey[k] == nil {
				byKey[k] = make([]int, len(ages))
			}
			age := now.Sub(m.Timestamp)
			for i, a := range ages {
				if age < a.max {
					byKey[k][i]++
					break
				}
			}
			if oldest.IsZero() || m.Timestamp.Before(oldest) {
				oldest = m.Timestamp
			}
			total++
		}
		pc.Close()
	}
	var keys []key
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].reason < keys[j].reason || keys[i].reason == keys[j].reason && keys[i].source < keys[j].source
	})
	fmt.Fprintf(stdout, "%-16s %-24s %8s", "reason", "source_topic", "records")
	for _, a := range ages {
		fmt.Fprintf(stdout, " %8s", a.name)
	}
	fmt.Fprintln(stdout)
	for _, k := range keys {
		n := 0
		for _, c := range byKey[k] {
			n += c
		}
		fmt.Fprintf(stdout, "%-16s %-24s %8d", k.reason, k.source, n)
		for _, c := range byKey[k] {
			fmt.Fprintf(stdout, " %8d", c)
		}
		fmt.Fprintln(stdout)
	}
	if total > 0 {
		fmt.Fprintf(stdout, "%d records; the oldest dead-lettered %s ago\n", total, now.Sub(oldest).Round(time.Second))
	} else {
		fmt.Fprintf(stdout, "%s is empty\n", *topic)
	}
	return exitOK
}
