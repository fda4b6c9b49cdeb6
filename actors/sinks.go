package actors

import (
	"errors"
	"strconv"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"
)

// kafkaSink produces a Kafka output's shard records: partition = the shard within the output,
// key = that number in decimal.
type kafkaSink struct {
	link   *outputLink
	topic  string
	offset int
	keys   []sarama.ByteEncoder // per shard of the writer's range
	lo     int
}

func newKafkaSink(link *outputLink, plan *outputPlan, lo, hi int) *kafkaSink {
	k := &kafkaSink{link: link, topic: plan.cfg.Topic, offset: plan.offset, lo: lo}
	for s := lo; s < hi; s++ {
		k.keys = append(k.keys, sarama.ByteEncoder(strconv.Itoa(s-plan.offset)))
	}
	return k
}

// send enqueues the record; the writer keeps at most one record per shard in flight, within the
// link's window, so it never blocks.
func (k *kafkaSink) send(_ actor.Context, _ *writer, s int, part []byte, ref produceRef) {
	k.link.enqueue(&sarama.ProducerMessage{Topic: k.topic, Partition: int32(s - k.offset), Key: k.keys[s-k.lo],
		Value: sarama.ByteEncoder(part), Metadata: ref})
}

func (k *kafkaSink) permanent(err error) bool { return permanentOutputError(err) }

// rwSink posts a remote-write output's requests, each from a goroutine of its own so that the
// writer's Receive never blocks; the answer comes back as a message. The part's buffer is not
// touched until the answer arrives.
type rwSink struct{ client *rwClient }

func (r *rwSink) send(ctx actor.Context, w *writer, s int, part []byte, ref produceRef) {
	self, root := ctx.Self(), w.d.system.Root
	avoid := w.shards[s-w.lo].avoid
	go func() {
		_, err := r.client.send(part, avoid)
		root.Send(self, &produced{meta: ref, err: err})
	}()
}

func (r *rwSink) permanent(err error) bool {
	var re *rwError
	return errors.As(err, &re) && re.permanent
}

// deadLetterSource is what a rejected write's dead letter names as its source topic: the Kafka
// output's topic, or "remote_write:<output name>".
func (o *outputPlan) deadLetterSource() string {
	if o.kafka() {
		return o.cfg.Topic
	}
	return "remote_write:" + o.cfg.Name
}
