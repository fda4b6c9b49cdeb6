package kafkaio

import (
	"sync"

	"github.com/IBM/sarama"
)

// Link connects a sender that must never block (an actor's Receive) to an idempotent sarama
// AsyncProducer: a goroutine feeds the producer from a channel of window records, and one hands
// each answer to a callback. The sender keeps at most window records unanswered, so Enqueue never
// blocks.
type Link struct {
	producer sarama.AsyncProducer
	in       chan *sarama.ProducerMessage
	wg       sync.WaitGroup
}

// NewLink wraps p for a sender that keeps at most window records unanswered.
func NewLink(p sarama.AsyncProducer, window int) *Link {
	return &Link{producer: p, in: make(chan *sarama.ProducerMessage, window)}
}

// Start runs the goroutines; answer gets each record's Metadata and its error (nil: written).
func (l *Link) Start(answer func(meta any, err error)) {
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
				answer(m.Metadata, nil)
			case e, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				answer(e.Msg.Metadata, e.Err)
			}
		}
	}()
}

// Enqueue hands a record to the feeding goroutine.
func (l *Link) Enqueue(m *sarama.ProducerMessage) { l.in <- m }

// Close stops the producer after its in-flight records are answered.
func (l *Link) Close() error {
	close(l.in)
	err := l.producer.Close()
	l.wg.Wait()
	return err
}
