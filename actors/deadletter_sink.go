package actors

import (
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/kafkaio"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/output"
)

// deadLetterSink produces dead-letter records: one per line, record or refused write, keyed by
// "<source topic>/<partition>", with headers naming where it came from and why. A record that
// fails is retried until it is written, after an exponential backoff with full jitter between
// minBackoff and maxBackoff: giving up would lose the line.
type deadLetterSink struct {
	link  *kafkaio.Link
	topic string
}

// send enqueues the record; the dead-letter writer keeps to its window, so it never blocks. The
// answer comes back to the writer as *produced with ref as meta.
func (s *deadLetterSink) send(value []byte, topic string, partition int32, offset int64, reason messages.Reason, detail string, ref deadLetterRef) {
	s.link.Enqueue(&sarama.ProducerMessage{
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
	return output.Backoff(minBackoff, maxBackoff, attempt)
}
