package actors

import (
	"errors"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/rwclient"
)

// newSink returns the sink of plan's output type for a writer owning shards [lo, hi); link is
// the writer's Kafka producer (nil for remote write). A new output type is a new sink here.
func newSink(plan *outputPlan, link *producerLink, lo, hi int) writerSink {
	if plan.kafka() {
		return newKafkaSink(link, plan, lo, hi)
	}
	return newRWSink(plan, lo, hi)
}

// kafkaSink produces a Kafka output's shard records: partition = the shard within the output,
// key = that number in decimal, value = the shard's segments joined into one remote-write
// WriteRequest (with protocol 2.0 an io.prometheus.write.v2.Request, and a
// sluice-remote-write-version header saying so). A failed record waits an exponential backoff
// with full jitter.
type kafkaSink struct {
	link    *producerLink
	topic   string
	offset  int
	keys    []sarama.ByteEncoder // per shard of the writer's range
	lo      int
	retry   *config.Retry
	scratch []byte
	v2      *v2Parts // nil for protocol 1.0
	headers []sarama.RecordHeader
}

// HeaderRemoteWriteVersion names the remote-write protocol of a 2.0 shard record.
const HeaderRemoteWriteVersion = remotewrite.HeaderVersion

func newKafkaSink(link *producerLink, plan *outputPlan, lo, hi int) *kafkaSink {
	k := &kafkaSink{link: link, topic: plan.cfg.Topic, offset: plan.offset, lo: lo, retry: plan.cfg.Retry,
		v2: newV2Parts(plan.cfg.Protocol)}
	if k.v2 != nil {
		k.headers = []sarama.RecordHeader{{Key: []byte(HeaderRemoteWriteVersion), Value: []byte(remotewrite.VersionV2)}}
	}
	for s := lo; s < hi; s++ {
		k.keys = append(k.keys, sarama.ByteEncoder(strconv.Itoa(s-plan.offset)))
	}
	return k
}

// build joins the shard's segments into one record.
func (k *kafkaSink) build(st *shardState) {
	k.scratch = k.scratch[:0]
	samples := 0
	st.eachSegment(func(data []byte, n int) {
		k.scratch = append(k.scratch, data...)
		samples += n
	})
	switch {
	case len(k.scratch) == 0:
	case k.v2 != nil:
		k.v2.add(st, k.scratch, samples)
	default:
		st.addPart(k.scratch, samples)
	}
}

func (k *kafkaSink) deadLetterSource() string { return k.topic }

// send enqueues the record; the writer keeps at most one record per shard in flight, within the
// link's window, so it never blocks.
func (k *kafkaSink) send(_ actor.Context, s int, part []byte, ref produceRef) {
	k.link.enqueue(&sarama.ProducerMessage{Topic: k.topic, Partition: int32(s - k.offset), Key: k.keys[s-k.lo],
		Value: sarama.ByteEncoder(part), Headers: k.headers, Metadata: ref})
}

func (k *kafkaSink) permanent(err error) bool { return permanentOutputError(err) }

func (k *kafkaSink) newPart(int) {}

func (k *kafkaSink) retryDelay(_ int, _ error, attempt int) time.Duration {
	return jitterBackoff(k.retry.MinBackoff, k.retry.MaxBackoff, attempt)
}

// permanentOutputError reports Kafka errors that retrying cannot fix.
func permanentOutputError(err error) bool {
	var ce sarama.ConfigurationError
	return errors.As(err, &ce) || errors.Is(err, sarama.ErrMessageSizeTooLarge) ||
		errors.Is(err, sarama.ErrInvalidMessageSize) ||
		errors.Is(err, sarama.ErrTopicAuthorizationFailed) || errors.Is(err, sarama.ErrClusterAuthorizationFailed) ||
		errors.Is(err, sarama.ErrInvalidRecord)
}

// rwSink posts a remote-write output's requests, each from a goroutine of its own so that the
// writer's Receive never blocks; the answer comes back as a message. The part's buffer is not
// touched until the answer arrives. It keeps, per shard, the endpoint the part's last attempt
// failed on, so the retry goes to another replica. With protocol 2.0 each request is transcoded
// to an io.prometheus.write.v2.Request and the receiver's count of samples written is reported.
type rwSink struct {
	client *rwclient.Client
	cfg    *config.Output
	retry  *config.Retry
	lo     int
	shards []rwShard
	merger remotewrite.Merger
	v2     *v2Parts // nil for protocol 1.0
}

// v2Parts transcodes a sink's 1.0 requests (or records) to 2.0 before they become parts.
type v2Parts struct {
	enc remotewrite.V2Encoder
	buf []byte
}

// add transcodes req and adds it to st as a part.
func (v *v2Parts) add(st *shardState, req []byte, samples int) {
	out, ok := v.enc.Transcode(v.buf[:0], req)
	if !ok {
		panic("writer: a worker encoded a malformed segment") // a bug, not bad input
	}
	v.buf = out
	st.addPart(out, samples)
}

func newV2Parts(protocol string) *v2Parts {
	if protocol == config.ProtocolV2 {
		return &v2Parts{}
	}
	return nil
}

// rwShard is a shard's retry state: avoid is the endpoint the part's last attempt failed on (-1:
// none); fast counts the immediate retries on other endpoints since the last backoff.
type rwShard struct{ avoid, fast int }

func newRWSink(plan *outputPlan, lo, hi int) *rwSink {
	r := &rwSink{client: plan.rw, cfg: plan.cfg, retry: plan.cfg.Retry, lo: lo, shards: make([]rwShard, hi-lo),
		v2: newV2Parts(plan.cfg.Protocol)}
	for i := range r.shards {
		r.shards[i].avoid = -1
	}
	return r
}

// build merges the shard's segments into requests in which each series appears once, its samples
// in timestamp order, within max_batch_samples and max_batch_bytes.
func (r *rwSink) build(st *shardState) {
	st.eachSegment(func(data []byte, _ int) {
		if !r.merger.Add(data) {
			panic("writer: a worker encoded a malformed segment") // a bug, not bad input
		}
	})
	if r.merger.Series() == 0 {
		return
	}
	if r.v2 != nil {
		r.merger.Build(r.cfg.MaxBatchSamples, r.cfg.MaxBatchBytes, func(req []byte, samples int) { r.v2.add(st, req, samples) })
		return
	}
	r.merger.Build(r.cfg.MaxBatchSamples, r.cfg.MaxBatchBytes, st.addPart)
}

func (r *rwSink) deadLetterSource() string { return "remote_write:" + r.cfg.Name }

func (r *rwSink) send(ctx actor.Context, s int, part []byte, ref produceRef) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	avoid := r.shards[s-r.lo].avoid
	go func() {
		_, written, err := r.client.Send(part, avoid)
		root.Send(self, &produced{meta: ref, err: err, written: written})
	}()
}

func (r *rwSink) permanent(err error) bool {
	var re *rwclient.Error
	return errors.As(err, &re) && re.Permanent
}

func (r *rwSink) newPart(s int) { r.shards[s-r.lo] = rwShard{avoid: -1} }

// retryDelay: not at all when another endpoint can take the part at once (one bad replica costs
// no backoff); until the first breaker admits a probe when all are open; else the receiver's
// Retry-After, or exponential backoff with full jitter; at most max_backoff.
func (r *rwSink) retryDelay(s int, err error, attempt int) time.Duration {
	st, c := &r.shards[s-r.lo], r.retry
	var re *rwclient.Error
	switch {
	case errors.Is(err, rwclient.ErrAllOpen):
		st.avoid, st.fast = -1, 0
		until := time.Until(r.client.OpenUntil())
		return min(max(until, c.MinBackoff), c.MaxBackoff)
	case errors.As(err, &re):
		st.avoid = re.Endpoint
		if re.RetryAfter > 0 {
			st.fast = 0
			return min(re.RetryAfter, c.MaxBackoff)
		}
		if n := len(r.client.Endpoints()); st.fast < n-1 && r.client.Healthy() > 0 {
			st.fast++
			return 0
		}
		st.fast = 0
	}
	return jitterBackoff(c.MinBackoff, c.MaxBackoff, attempt)
}

// deadLetterSink produces dead-letter records: one per line, record or refused write, keyed by
// "<source topic>/<partition>", with headers naming where it came from and why. A record that
// fails is retried until it is written, after an exponential backoff with full jitter between
// minBackoff and maxBackoff: giving up would lose the line.
type deadLetterSink struct {
	link  *producerLink
	topic string
}

// send enqueues the record; the dead-letter writer keeps to its window, so it never blocks. The
// answer comes back to the writer as *produced with ref as meta.
func (s *deadLetterSink) send(value []byte, topic string, partition int32, offset int64, reason messages.Reason, detail string, ref deadLetterRef) {
	s.link.enqueue(&sarama.ProducerMessage{
		Topic: s.topic,
		Key:   sarama.StringEncoder(topic + "/" + strconv.Itoa(int(partition))),
		Value: sarama.ByteEncoder(value),
		Headers: []sarama.RecordHeader{
			{Key: []byte(HeaderSourceTopic), Value: []byte(topic)},
			{Key: []byte(HeaderSourcePartition), Value: []byte(strconv.Itoa(int(partition)))},
			{Key: []byte(HeaderSourceOffset), Value: []byte(strconv.FormatInt(offset, 10))},
			{Key: []byte(HeaderReason), Value: []byte(reason.String())},
			{Key: []byte(HeaderDetail), Value: []byte(detail)},
		},
		Metadata: ref,
	})
}

// retryDelay is how long a record waits after its attempt-th failure.
func (s *deadLetterSink) retryDelay(attempt int) time.Duration {
	return jitterBackoff(minBackoff, maxBackoff, attempt)
}
