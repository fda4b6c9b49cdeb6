package actors

import (
	"strconv"
	"sync"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"
)

// outputLink connects one writer to the Kafka output: an idempotent sarama AsyncProducer, a
// goroutine that feeds it (so that a writer's Receive never blocks on sarama's input channel) and
// one that turns its answers into produced messages for the writer.
type outputLink struct {
	producer sarama.AsyncProducer
	topic    string
	keys     []sarama.ByteEncoder // the record key of each shard: its id in decimal
	in       chan *sarama.ProducerMessage
	wg       sync.WaitGroup
}

type produceRef struct {
	flush uint64
	shard int32
}

func newOutputLink(p sarama.AsyncProducer, topic string, shards int) *outputLink {
	l := &outputLink{producer: p, topic: topic, in: make(chan *sarama.ProducerMessage, shards+1)}
	for s := 0; s < shards; s++ {
		l.keys = append(l.keys, sarama.ByteEncoder(strconv.Itoa(s)))
	}
	return l
}

// start runs the feeding and answering goroutines; answers go to writer through root.
func (l *outputLink) start(root *actor.RootContext, writer *actor.PID) {
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		for m := range l.in {
			l.producer.Input() <- m
		}
	}()
	go func() {
		defer l.wg.Done()
		succ, errs := l.producer.Successes(), l.producer.Errors()
		for succ != nil || errs != nil {
			select {
			case m, ok := <-succ:
				if !ok {
					succ = nil
					continue
				}
				ref := m.Metadata.(produceRef)
				root.Send(writer, &produced{flush: ref.flush, shard: ref.shard})
			case e, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				ref := e.Msg.Metadata.(produceRef)
				root.Send(writer, &produced{flush: ref.flush, shard: ref.shard, err: e.Err})
			}
		}
	}()
}

// enqueue hands a record to the feeding goroutine. The channel holds a whole flush, and a writer
// has at most one flush in flight, so this never blocks.
func (l *outputLink) enqueue(flush uint64, shard int32, value []byte) {
	l.in <- &sarama.ProducerMessage{Topic: l.topic, Partition: shard, Key: l.keys[shard],
		Value: sarama.ByteEncoder(value), Metadata: produceRef{flush: flush, shard: shard}}
}

// close stops the producer after its in-flight records are answered.
func (l *outputLink) close() error {
	close(l.in)
	err := l.producer.Close()
	l.wg.Wait()
	return err
}
