package kafka

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/kafkaio"
	"github.com/sluicehq/sluice/output"
)

// transactions is an exactly-once output's one transactional producer, which every writer of
// the output shares (a Kafka transaction belongs to one producer, and the input offsets a task
// commits cover records of all its writers). A transaction is always open: Commit ends it with
// the offsets and begins the next.
//
// Zombie fencing is KIP-447's: each transaction's offsets carry the consumer-group member and
// generation they were read under, and the group coordinator refuses them (so the transaction
// aborts) from a task whose partitions were given to another. The transactional id is therefore
// this process's own (host, pid, start time), not one per input partition; a task that was
// killed leaves its open transaction to the coordinator, which aborts it after the transaction
// timeout (TxnTimeout), during which read_committed consumers of the partitions it wrote wait.
type transactions struct {
	id   string
	prod sarama.AsyncProducer
	link *kafkaio.Link
}

// sharedRef is a record's Metadata on a shared link: whose answer it is, and the writer's ref.
type sharedRef struct {
	answer output.Answer
	ref    any
}

// TxnTimeout is how long the coordinator keeps a transaction nobody ends before aborting it:
// well above a commit interval's transaction, short enough that a killed task holds
// read_committed consumers back briefly.
func TxnTimeout(cfg *config.Config) time.Duration {
	return max(10*time.Second, 10*cfg.Kafka.CommitInterval)
}

func startTransactions(cfg *config.Config, o *config.Output, shards int) (*transactions, error) {
	host, _ := os.Hostname()
	id := fmt.Sprintf("sluice.%s.%s.%d.%s", o.Name, host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano(), 36))
	pc := kafkaio.ProducerConfig(cfg, o)
	pc.Producer.Transaction.ID = id
	pc.Producer.Transaction.Timeout = TxnTimeout(cfg)
	// A coordinator that moves or a broker that restarts briefly is waited out, for 5 s.
	pc.Producer.Transaction.Retry.Max = 50
	pc.Producer.Transaction.Retry.Backoff = 100 * time.Millisecond
	prod, err := sarama.NewAsyncProducer(cfg.Kafka.Brokers, pc)
	if err != nil {
		return nil, fmt.Errorf("transactional producer %s: %w", id, err)
	}
	if err := prod.BeginTxn(); err != nil {
		prod.Close()
		return nil, fmt.Errorf("transactional producer %s: beginning a transaction: %w", id, err)
	}
	t := &transactions{id: id, prod: prod, link: kafkaio.NewLink(prod, shards)}
	t.link.Start(func(meta any, err error) {
		r := meta.(*sharedRef)
		r.answer(r.ref, -1, err)
	})
	return t, nil
}

func (t *transactions) TransactionalID() string { return t.id }

// Failed aborts the transaction and says why when a write in it failed for good (sarama then
// refuses to commit it).
func (t *transactions) Failed() error {
	st := t.prod.TxnStatus()
	if st&(sarama.ProducerTxnFlagAbortableError|sarama.ProducerTxnFlagFatalError) == 0 {
		return nil
	}
	return t.abort(fmt.Errorf("a write in the transaction failed (producer state %s)", st))
}

// Commit adds each member's offsets to the open transaction, commits it and begins the next.
func (t *transactions) Commit(groups []output.GroupOffsets) error {
	for _, g := range groups {
		offsets := map[string][]*sarama.PartitionOffsetMetadata{}
		for topic, parts := range g.Offsets {
			for p, off := range parts {
				offsets[topic] = append(offsets[topic], &sarama.PartitionOffsetMetadata{Partition: p, Offset: off, LeaderEpoch: -1})
			}
		}
		md := &sarama.ConsumerGroupMetadata{GroupID: g.Group, GenerationID: g.Generation, MemberID: g.Member}
		if g.InstanceID != "" {
			md.GroupInstanceID = &g.InstanceID
		}
		if err := t.prod.AddOffsetsToTxnWithGroupMetadata(offsets, md); err != nil {
			return t.abort(fmt.Errorf("adding the offsets of group %s (generation %d) to the transaction: %w", g.Group, g.Generation, err))
		}
	}
	if err := t.prod.CommitTxn(); err != nil {
		return t.abort(fmt.Errorf("committing the transaction: %w", err))
	}
	if err := t.prod.BeginTxn(); err != nil {
		return fmt.Errorf("beginning the next transaction: %w", err)
	}
	return nil
}

// abort ends the open transaction without committing it; its records are never read by a
// read_committed consumer.
func (t *transactions) abort(cause error) error {
	if t.prod.TxnStatus()&sarama.ProducerTxnFlagInTransaction != 0 || t.prod.TxnStatus()&sarama.ProducerTxnFlagAbortableError != 0 {
		if err := t.prod.AbortTxn(); err != nil {
			return errors.Join(cause, fmt.Errorf("aborting it: %w", err))
		}
	}
	return cause
}

// close aborts the open transaction (what it holds was not committed with its offsets, so it is
// read again by the partitions' next owner) and closes the producer.
func (t *transactions) close() error {
	var err error
	if t.prod.TxnStatus()&sarama.ProducerTxnFlagInTransaction != 0 {
		err = t.prod.AbortTxn()
	}
	return errors.Join(err, t.link.Close())
}
