// Package control reads and writes the control topic: a compacted Kafka topic whose records each
// hold one control document (HCL, the realtime settings a SIGHUP reload applies: denylist,
// validation, limits, shedding, coordinator tuning, route priorities) with its version in a
// header. The newest valid version wins. Every task reads the topic from the start at boot,
// within a timeout, then follows it (docs/control.md).
package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// HeaderVersion is the record header holding a control document's version (a decimal integer,
// 1 and up); Key is every control record's key, so compaction keeps the newest.
const (
	HeaderVersion = "sluice-control-version"
	Key           = "settings"
)

// Record is one control document as the topic holds it.
type Record struct {
	Version   int64
	Doc       []byte
	Time      time.Time
	Partition int32
	Offset    int64
}

// Version reads a record's version header; ok is false when it has none or a bad one.
func Version(m *sarama.ConsumerMessage) (int64, bool) {
	for _, h := range m.Headers {
		if string(h.Key) == HeaderVersion {
			v, err := strconv.ParseInt(string(h.Value), 10, 64)
			return v, err == nil && v > 0
		}
	}
	return 0, false
}

func toRecord(m *sarama.ConsumerMessage) (Record, bool) {
	v, ok := Version(m)
	return Record{Version: v, Doc: m.Value, Time: m.Timestamp, Partition: m.Partition, Offset: m.Offset}, ok
}

// ErrNoTopic is ReadAll's error when the control topic does not exist.
var ErrNoTopic = errors.New("the control topic does not exist")

// ReadAll reads every record of topic from the start to its end as of the call, within ctx; it
// returns them (records without a valid version header are skipped and counted in bad) and,
// per partition, the offset to follow from.
func ReadAll(ctx context.Context, client sarama.Client, topic string) (recs []Record, bad int, next map[int32]int64, err error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return nil, 0, nil, ErrNoTopic
		}
		return nil, 0, nil, err
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, 0, nil, err
	}
	defer cons.Close()
	next = map[int32]int64{}
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, 0, nil, err
		}
		next[p] = end
		start, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, 0, nil, err
		}
		if start >= end {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, start)
		if err != nil {
			return nil, 0, nil, err
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				if r, ok := toRecord(m); ok {
					recs = append(recs, r)
				} else {
					bad++
				}
				done = m.Offset+1 >= end
			case e := <-pc.Errors():
				pc.Close()
				return nil, 0, nil, e
			case <-ctx.Done():
				pc.Close()
				return nil, 0, nil, fmt.Errorf("reading the control topic: %w", context.Cause(ctx))
			}
		}
		pc.Close()
	}
	return recs, bad, next, nil
}

// Newest returns the records from the newest version down (equal versions: the later one first).
func Newest(recs []Record) []Record {
	out := slices.Clone(recs)
	slices.SortStableFunc(out, func(a, b Record) int {
		return cmp.Or(cmp.Compare(b.Version, a.Version), b.Time.Compare(a.Time))
	})
	return out
}

// Follower follows the control topic from the offsets ReadAll returned and hands every record on
// through C. It reconnects by itself (sarama's partition consumers retry); Close stops it.
type Follower struct {
	C    chan Record
	cons sarama.Consumer
	pcs  []sarama.PartitionConsumer
	stop chan struct{}
	wg   sync.WaitGroup
	// Bad counts records without a valid version header.
	Bad func()
}

// Follow starts following topic from next (partition → offset).
func Follow(client sarama.Client, topic string, next map[int32]int64, onBad func()) (*Follower, error) {
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, err
	}
	f := &Follower{C: make(chan Record, 16), cons: cons, stop: make(chan struct{}), Bad: onBad}
	for p, off := range next {
		pc, err := cons.ConsumePartition(topic, p, off)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.pcs = append(f.pcs, pc)
		f.wg.Add(1)
		go f.run(pc)
	}
	return f, nil
}

func (f *Follower) run(pc sarama.PartitionConsumer) {
	defer f.wg.Done()
	for {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				return
			}
			r, good := toRecord(m)
			if !good {
				if f.Bad != nil {
					f.Bad()
				}
				continue
			}
			select {
			case f.C <- r:
			case <-f.stop:
				return
			}
		case <-pc.Errors():
			// sarama retries on its own; the error is what it could not hide. Keep following.
		case <-f.stop:
			return
		}
	}
}

// Close stops following.
func (f *Follower) Close() {
	close(f.stop)
	for _, pc := range f.pcs {
		pc.AsyncClose()
	}
	f.wg.Wait()
	f.cons.Close()
}

// Publish writes doc as version to topic (creating it compacted, one partition, when it does not
// exist) and returns where it went.
func Publish(client sarama.Client, topic string, version int64, doc []byte) (partition int32, offset int64, err error) {
	if err := ensureTopic(client, topic); err != nil {
		return 0, 0, err
	}
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return 0, 0, err
	}
	defer prod.Close()
	return prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(Key), Value: sarama.ByteEncoder(doc),
		Headers: []sarama.RecordHeader{{Key: []byte(HeaderVersion), Value: []byte(strconv.FormatInt(version, 10))}}})
}

func ensureTopic(client sarama.Client, topic string) error {
	if _, err := client.Partitions(topic); err == nil {
		return nil
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return err
	}
	// Not closed: closing the admin closes the client it was made from.
	compact := "compact"
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: map[string]*string{"cleanup.policy": &compact}}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		var te *sarama.TopicError
		if !errors.As(err, &te) || te.Err != sarama.ErrTopicAlreadyExists {
			return fmt.Errorf("creating control topic %s: %w", topic, err)
		}
	}
	return client.RefreshMetadata(topic)
}
