package main

// sluice redrive: the dead-letter topic's records back to where they came from, once fixed
// (docs/control.md).

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/messages"
)

// HeaderRedrivenFrom names, on a redriven record, the dead-letter record it came from.
const HeaderRedrivenFrom = "sluice-redriven-from"

// dlRecord is what a dead-letter record's headers say.
type dlRecord struct {
	reason, source, detail string
}

func dlHeaders(m *sarama.ConsumerMessage) dlRecord {
	var r dlRecord
	for _, h := range m.Headers {
		switch string(h.Key) {
		case actors.HeaderReason:
			r.reason = string(h.Value)
		case actors.HeaderSourceTopic:
			r.source = string(h.Value)
		case actors.HeaderDetail:
			r.detail = string(h.Value)
		}
	}
	return r
}

// redriveCmd re-produces dead-lettered records to the topic they came from. Progress is kept as
// the offsets of a consumer group (one per source topic, dead-letter topic and filters, unless
// -group names one), so an interrupted redrive resumes where it stopped, and a second redrive of
// the same records with the same filters re-produces nothing.
func redriveCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("redrive", stderr)
	kf := addKafkaFlags(fs, "redrive")
	from := fs.String("from", "", "the dead-letter topic (default: -config's dead_letter topic)")
	reason := fs.String("reason", "", "only records dead-lettered for these reasons (comma-separated: unparseable, poison)")
	source := fs.String("source-topic", "", "only records that came from this topic")
	since := fs.Duration("since", 0, "only records dead-lettered within this long (0: all)")
	group := fs.String("group", "", "the consumer group that keeps the redrive's progress (default: one per topic and filters)")
	dry := fs.Bool("dry-run", false, "count what would be redriven; produce and commit nothing")
	progress := fs.Duration("progress", 5*time.Second, "how often to print a progress line")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if !kf.resolve(stderr) {
		return exitError
	}
	if *from == "" && kf.cfg != nil && kf.cfg.DeadLetter != nil {
		*from = kf.cfg.DeadLetter.Topic
	}
	if *from == "" {
		fmt.Fprintln(stderr, "sluice redrive: -from is required (or -config with a dead_letter block)")
		return exitError
	}
	reasons := map[string]bool{}
	for _, r := range strings.Split(*reason, ",") {
		if r = strings.TrimSpace(r); r != "" {
			if !knownReason(r) {
				fmt.Fprintf(stderr, "sluice redrive: -reason %q is not a reason Sluice dead-letters for (%s)\n", r, strings.Join(reasonNames(), ", "))
				return exitError
			}
			reasons[r] = true
		}
	}
	if *group == "" {
		*group = "sluice-redrive." + *from + "." + strings.ReplaceAll(*reason, ",", "+") + "." + *source
	}
	sc := kf.saramaConfig()
	sc.Consumer.Return.Errors = true
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 10
	client := kf.client(sc, stderr)
	if client == nil {
		return exitError
	}
	defer client.Close()
	parts, err := client.Partitions(*from)
	if err != nil {
		fmt.Fprintf(stderr, "sluice redrive: topic %s: %v\n", *from, err)
		return exitError
	}
	var prod sarama.SyncProducer
	var prog *redriveProgress
	if !*dry {
		// A client of its own: a broker may answer a connection's requests in order, so a
		// produce sharing the consumer's connection would wait out each fetch's long poll.
		if prod, err = sarama.NewSyncProducer(kf.kafka.Brokers, sc); err != nil {
			kf.fail(stderr, err)
			return exitError
		}
		defer prod.Close()
		prog = &redriveProgress{client: client, group: *group, topic: *from, next: map[int32]int64{}}
		if err := prog.fetch(parts); err != nil {
			fmt.Fprintf(stderr, "sluice redrive: reading the progress of group %s: %v\n", *group, err)
			return exitError
		}
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fmt.Fprintf(stderr, "sluice redrive: %v\n", err)
		return exitError
	}
	defer cons.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	type counts struct{ redriven, filtered, notRedrivable int }
	byReason := map[string]*counts{}
	count := func(r string) *counts {
		if byReason[r] == nil {
			byReason[r] = &counts{}
		}
		return byReason[r]
	}
	var total counts
	tick := time.NewTicker(*progress)
	defer tick.Stop()
	cutoff := time.Time{}
	if *since > 0 {
		cutoff = time.Now().Add(-*since)
	}
	interrupted := false
	for _, p := range parts {
		end, err := client.GetOffset(*from, p, sarama.OffsetNewest)
		if err != nil {
			fmt.Fprintf(stderr, "sluice redrive: %v\n", err)
			return exitError
		}
		start, err := client.GetOffset(*from, p, sarama.OffsetOldest)
		if err != nil {
			fmt.Fprintf(stderr, "sluice redrive: %v\n", err)
			return exitError
		}
		if prog != nil {
			if next, ok := prog.next[p]; ok && next > start {
				start = next // resume
			}
		}
		if start >= end {
			continue
		}
		pc, err := cons.ConsumePartition(*from, p, start)
		if err != nil {
			fmt.Fprintf(stderr, "sluice redrive: %v\n", err)
			return exitError
		}
		for off := start; off < end && !interrupted; {
			select {
			case m := <-pc.Messages():
				off = m.Offset + 1
				h := dlHeaders(m)
				c := count(h.reason)
				switch {
				case len(reasons) > 0 && !reasons[h.reason], *source != "" && h.source != *source, !cutoff.IsZero() && m.Timestamp.Before(cutoff):
					c.filtered++
					total.filtered++
				case h.reason == messages.ReasonOutputRejected.String() || h.source == "":
					// A WriteRequest an output refused: it belongs to the output's topic or
					// receiver, not to an input, so redriving it into an input would be wrong.
					c.notRedrivable++
					total.notRedrivable++
				case *dry:
					c.redriven++
					total.redriven++
				default:
					_, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: h.source, Value: sarama.ByteEncoder(m.Value),
						Headers: []sarama.RecordHeader{{Key: []byte(HeaderRedrivenFrom), Value: fmt.Appendf(nil, "%s/%d/%d", *from, p, m.Offset)}}})
					if err != nil {
						fmt.Fprintf(stderr, "sluice redrive: producing to %s: %v (progress is kept: run again to resume)\n", h.source, err)
						pc.Close()
						prog.commit(stderr)
						return exitError
					}
					c.redriven++
					total.redriven++
				}
				if prog != nil {
					prog.next[p] = m.Offset + 1
				}
			case err := <-pc.Errors():
				fmt.Fprintf(stderr, "sluice redrive: reading %s/%d: %v\n", *from, p, err)
			case <-tick.C:
				prog.commit(stderr)
				fmt.Fprintf(stderr, "redrive: partition %d at offset %d of %d; %d redriven, %d filtered, %d not redrivable\n",
					p, off, end, total.redriven, total.filtered, total.notRedrivable)
			case <-ctx.Done():
				interrupted = true
			}
		}
		pc.Close()
		if !prog.commit(stderr) {
			return exitError
		}
		if interrupted {
			break
		}
	}
	verb := "redriven"
	if *dry {
		verb = "would be redriven (dry run)"
	}
	var rs []string
	for r := range byReason {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	fmt.Fprintf(stdout, "%-16s %10s %10s %14s\n", "reason", "redriven", "filtered", "not_redrivable")
	for _, r := range rs {
		c := byReason[r]
		fmt.Fprintf(stdout, "%-16s %10d %10d %14d\n", r, c.redriven, c.filtered, c.notRedrivable)
	}
	fmt.Fprintf(stdout, "%d records %s, %d filtered out, %d not redrivable\n", total.redriven, verb, total.filtered, total.notRedrivable)
	if total.notRedrivable > 0 {
		fmt.Fprintln(stdout, "not redrivable: output_rejected records are remote-write requests an output refused; they go to that output, not to an input. Fix the output, then re-produce them there (kcat), or drop them.")
	}
	if interrupted {
		fmt.Fprintln(stderr, "sluice redrive: interrupted; progress is kept: run the same command again to resume")
		return exitError
	}
	return exitOK
}

// redriveProgress is a redrive's position per partition of the dead-letter topic, kept as the
// committed offsets of a consumer group that never joins (simple commits, generation -1), so that
// a redrive interrupted anywhere resumes after the last record it produced.
type redriveProgress struct {
	client sarama.Client
	group  string
	topic  string
	next   map[int32]int64
}

func (r *redriveProgress) fetch(parts []int32) error {
	got, err := fetchGroupOffsets(r.client, r.group, map[string][]int32{r.topic: parts})
	for tp, off := range got {
		r.next[tp.partition] = off
	}
	return err
}

// commit stores the progress; false (said on stderr) when it could not.
func (r *redriveProgress) commit(stderr io.Writer) bool {
	if r == nil || len(r.next) == 0 {
		return true
	}
	offsets := map[topicPartition]int64{}
	for p, off := range r.next {
		offsets[topicPartition{r.topic, p}] = off
	}
	if err := commitGroupOffsets(r.client, r.group, offsets); err != nil {
		fmt.Fprintf(stderr, "sluice redrive: storing the progress of group %s: %v\n", r.group, err)
		return false
	}
	return true
}

// reasonNames are the drop reasons' names, which dead letters carry in their reason header.
func reasonNames() []string {
	out := make([]string, 0, messages.NumReasons)
	for r := range messages.Reason(messages.NumReasons) {
		out = append(out, r.String())
	}
	return out
}

func knownReason(name string) bool { return slices.Contains(reasonNames(), name) }
