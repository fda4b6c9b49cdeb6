// Package kafka is the Kafka output: shard records to a topic, partition = the shard within the
// output, key = that number in decimal, value = the flush's segments joined into one
// remote-write WriteRequest, snappy-compressed (with protocol 2.0 an
// io.prometheus.write.v2.Request, and a sluice-remote-write-version header saying so). Each
// pipeline writer has its own idempotent producer (acks=all).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/kafkaio"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/output"
)

// HeaderRemoteWriteVersion names the remote-write protocol of a 2.0 shard record.
const HeaderRemoteWriteVersion = remotewrite.HeaderVersion

// Output is one `output "kafka"` block.
type Output struct {
	cfg *config.Config
	o   *config.Output

	mu    sync.Mutex
	links []*kafkaio.Link

	// With delivery = "exactly_once", every writer sends through txn, one transactional producer
	// (eos.go).
	txn *transactions
}

// New returns the output of block o.
func New(cfg *config.Config, o *config.Output) (output.Output, error) {
	return &Output{cfg: cfg, o: o}, nil
}

// Start checks the topic: its partition count is the shard count when `shards` is not set, and
// it must have at least `shards` partitions when it is.
func (k *Output) Start(context.Context) (int, error) {
	client, err := sarama.NewClient(k.cfg.Kafka.Brokers, kafkaio.ProducerConfig(k.cfg, nil))
	if err != nil {
		return 0, fmt.Errorf("connecting to Kafka %v: %w%s", k.cfg.Kafka.Brokers, err, kafkaio.AuthHint(k.cfg.Kafka, err))
	}
	defer client.Close()
	parts, err := client.Partitions(k.o.Topic)
	if err != nil {
		return 0, fmt.Errorf("topic %q: %w", k.o.Topic, err)
	}
	shards := k.o.Shards
	switch {
	case shards == 0:
		shards = len(parts)
	case len(parts) < shards:
		return 0, fmt.Errorf("topic %q has %d partitions, but shards = %d needs at least %d (one partition per shard): add partitions or lower shards",
			k.o.Topic, len(parts), k.o.Shards, k.o.Shards)
	}
	if k.o.Delivery == config.DeliveryExactlyOnce {
		if k.txn, err = startTransactions(k.cfg, k.o, shards); err != nil {
			return 0, err
		}
	}
	return shards, nil
}

// Writer connects a producer of its own for shards [lo, hi).
func (k *Output) Writer(lo, hi int, answer output.Answer) (output.Writer, error) {
	if k.txn != nil {
		return k.newWriter(k.txn.link, lo, hi, answer), nil
	}
	prod, err := sarama.NewAsyncProducer(k.cfg.Kafka.Brokers, kafkaio.ProducerConfig(k.cfg, k.o))
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	link := kafkaio.NewLink(prod, hi-lo)
	link.Start(func(meta any, err error) { answer(meta, -1, err) })
	k.mu.Lock()
	k.links = append(k.links, link)
	k.mu.Unlock()
	return k.newWriter(link, lo, hi, nil), nil
}

// newWriter is a writer of shards [lo, hi) sending through link; answer, for a link that
// writers share, is where this writer's answers go (nil: the link answers it alone).
func (k *Output) newWriter(link *kafkaio.Link, lo, hi int, answer output.Answer) *writer {
	w := &writer{link: link, topic: k.o.Topic, lo: lo, retry: k.o.Retry, v2: k.o.Protocol == config.ProtocolV2, answer: answer}
	if w.v2 {
		w.headers = []sarama.RecordHeader{{Key: []byte(HeaderRemoteWriteVersion), Value: []byte(remotewrite.VersionV2)}}
	}
	for s := lo; s < hi; s++ {
		w.keys = append(w.keys, sarama.ByteEncoder(strconv.Itoa(s)))
	}
	return w
}

// Stop closes every writer's producer after its records in flight are answered.
func (k *Output) Stop() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var errs []error
	for _, l := range k.links {
		errs = append(errs, l.Close())
	}
	k.links = nil
	if k.txn != nil {
		errs = append(errs, k.txn.close())
	}
	return errors.Join(errs...)
}

// Transactions is the output's transactional side, nil unless delivery = "exactly_once".
func (k *Output) Transactions() output.Transactional {
	if k.txn == nil {
		return nil
	}
	return k.txn
}

type writer struct {
	link    *kafkaio.Link
	topic   string
	lo      int
	keys    []sarama.ByteEncoder // per shard of the writer's range
	retry   *config.Retry
	v2      bool
	headers []sarama.RecordHeader
	joined  []byte
	enc     remotewrite.V2Encoder
	v2buf   []byte
	// answer is this writer's, when writers share the link (exactly_once): each record's
	// Metadata then says whose answer it is.
	answer output.Answer
}

// Build joins the shard's segments into one record.
func (w *writer) Build(_ int, segs output.Segments, parts *output.Parts) {
	w.joined = w.joined[:0]
	samples := 0
	segs.Each(func(data []byte, n int) {
		w.joined = append(w.joined, data...)
		samples += n
	})
	if len(w.joined) == 0 {
		return
	}
	req := w.joined
	if w.v2 {
		out, ok := w.enc.Transcode(w.v2buf[:0], req)
		if !ok {
			panic("output/kafka: a worker encoded a malformed segment") // a bug, not bad input
		}
		w.v2buf, req = out, out
	}
	parts.Add(remotewrite.Compress(parts.Next(), req), samples)
}

func (w *writer) DeadLetterSource() string { return w.topic }

// Send enqueues the record; the pipeline's writer keeps at most one record per shard in flight,
// within the link's window, so it never blocks.
func (w *writer) Send(s int, part []byte, ref any) {
	if w.answer != nil {
		ref = &sharedRef{answer: w.answer, ref: ref}
	}
	w.link.Enqueue(&sarama.ProducerMessage{Topic: w.topic, Partition: int32(s), Key: w.keys[s-w.lo],
		Value: sarama.ByteEncoder(part), Headers: w.headers, Metadata: ref})
}

// Permanent reports Kafka errors that retrying cannot fix.
func (w *writer) Permanent(err error) bool { return Permanent(err) }

func (w *writer) NewPart(int) {}

// RetryDelay is an exponential backoff with full jitter.
func (w *writer) RetryDelay(_ int, _ error, attempt int) time.Duration {
	return output.Backoff(w.retry.MinBackoff, w.retry.MaxBackoff, attempt)
}

// Permanent reports Kafka errors that retrying cannot fix.
func Permanent(err error) bool {
	var ce sarama.ConfigurationError
	return errors.As(err, &ce) || errors.Is(err, sarama.ErrMessageSizeTooLarge) ||
		errors.Is(err, sarama.ErrInvalidMessageSize) ||
		errors.Is(err, sarama.ErrTopicAuthorizationFailed) || errors.Is(err, sarama.ErrClusterAuthorizationFailed) ||
		errors.Is(err, sarama.ErrInvalidRecord)
}
