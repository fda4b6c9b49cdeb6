package actors

// The running totals of an aggregation partition (the `total` output) depend on all of its
// history, not only on what a replay from the checkpoint covers. So at each checkpoint that has
// some, stage B appends them to the partition itself, as state records (a header says so, and
// which checkpoint they belong to), before the checkpoint is committed; the commit's metadata
// names the first one's offset. The partition's next owner reads them from there, then replays
// from the checkpoint's offset, skipping state records. They lie after the checkpoint's offset,
// so retention keeps them as long as the checkpoint needs them.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/aggregate"
	"github.com/sluicehq/sluice/kafkaio"
)

// stateHeader marks a state record; its value is "<checkpoint id> <part> <parts>".
const stateHeader = "sluice-aggregate-state"

// stateChunk bounds one state record's bytes (well below a topic's default maximum record size).
const stateChunk = 256 << 10

// stateEntry is one running total as a state record holds it: names and values as bytes (base64
// in JSON), since they may hold any bytes and JSON strings would change what is not UTF-8. The
// partition keys it again from its metric and labels.
type stateEntry struct {
	Value   float64           `json:"v"`
	LastTs  int64             `json:"t"`
	Metric  []byte            `json:"m"`
	Labels  [][2][]byte       `json:"l"`
	Buckets map[string]uint64 `json:"b,omitempty"`
}

// encodeState is one state record's value: the entries' JSON.
func encodeState(totals []aggregate.TotalState) ([]byte, error) {
	entries := make([]stateEntry, len(totals))
	for i, t := range totals {
		e := stateEntry{Value: t.Value, LastTs: t.LastTs, Metric: []byte(t.Metric), Buckets: t.Buckets}
		for _, l := range t.Labels {
			e.Labels = append(e.Labels, [2][]byte{[]byte(l.Name), []byte(l.Value)})
		}
		entries[i] = e
	}
	return json.Marshal(entries)
}

// decodeState reads encodeState.
func decodeState(b []byte) ([]aggregate.TotalState, error) {
	var entries []stateEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, err
	}
	out := make([]aggregate.TotalState, len(entries))
	for i, e := range entries {
		t := aggregate.TotalState{Value: e.Value, LastTs: e.LastTs, Metric: string(e.Metric), Buckets: e.Buckets}
		for _, l := range e.Labels {
			t.Labels = append(t.Labels, aggregate.Label{Name: string(l[0]), Value: string(l[1])})
		}
		out[i] = t
	}
	return out, nil
}

// isState reports whether m is a state record.
func isState(m *sarama.ConsumerMessage) bool {
	for _, h := range m.Headers {
		if h != nil && string(h.Key) == stateHeader {
			return true
		}
	}
	return false
}

// stateRecords encodes totals as the state records of checkpoint id, for topic and partition.
func stateRecords(topic string, partition int32, id int64, totals map[string]aggregate.TotalState) ([]*sarama.ProducerMessage, error) {
	var chunks [][]aggregate.TotalState
	var cur []aggregate.TotalState
	size := 0
	for _, t := range totals {
		n := len(t.Metric) + 64
		for _, l := range t.Labels {
			n += len(l.Name) + len(l.Value) + 16
		}
		n += 48 * len(t.Buckets)
		if size+n > stateChunk && len(cur) > 0 {
			chunks, cur, size = append(chunks, cur), nil, 0
		}
		cur = append(cur, t)
		size += n
	}
	chunks = append(chunks, cur)
	msgs := make([]*sarama.ProducerMessage, len(chunks))
	for i, ch := range chunks {
		b, err := encodeState(ch)
		if err != nil {
			return nil, err
		}
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: partition, Value: sarama.ByteEncoder(b),
			Headers: []sarama.RecordHeader{{Key: []byte(stateHeader), Value: fmt.Appendf(nil, "%d %d %d", id, i, len(chunks))}}}
	}
	return msgs, nil
}

// writeState appends the totals of checkpoint id to the partition and returns the first state
// record's offset.
func (h *claimHandler) writeState(topic string, partition int32, id int64, totals map[string]aggregate.TotalState) (int64, error) {
	if h.stateProducer == nil {
		p, err := sarama.NewSyncProducer(h.r.d.cfg.Kafka.Brokers, kafkaio.ProducerConfig(h.r.d.cfg, nil))
		if err != nil {
			return 0, err
		}
		h.stateProducer = p
	}
	msgs, err := stateRecords(topic, partition, id, totals)
	if err != nil {
		return 0, err
	}
	if err := h.stateProducer.SendMessages(msgs); err != nil {
		return 0, err
	}
	first := msgs[0].Offset
	for _, m := range msgs {
		first = min(first, m.Offset)
	}
	return first, nil
}

// readState reads the totals of checkpoint id from the partition, from offset from on.
func readState(ctx context.Context, client sarama.Client, topic string, partition int32, from, id int64) (map[string]aggregate.TotalState, error) {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, from)
	if err != nil {
		return nil, fmt.Errorf("reading the running totals at offset %d: %w", from, err)
	}
	defer pc.Close()
	out := map[string]aggregate.TotalState{}
	seen, parts := 0, -1
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for parts < 0 || seen < parts {
		select {
		case m := <-pc.Messages():
			for _, hd := range m.Headers {
				if hd == nil || string(hd.Key) != stateHeader {
					continue
				}
				f := strings.Fields(string(hd.Value))
				if len(f) != 3 || f[0] != strconv.FormatInt(id, 10) {
					continue
				}
				n, _ := strconv.Atoi(f[2])
				parts = n
				entries, err := decodeState(m.Value)
				if err != nil {
					return nil, fmt.Errorf("running totals at offset %d: %w", m.Offset, err)
				}
				for _, e := range entries {
					out[strconv.Itoa(len(out))] = e // the partition keys them again
				}
				seen++
			}
		case <-timeout.C:
			return nil, fmt.Errorf("the running totals of checkpoint %d not found from offset %d within 30 s", id, from)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}
