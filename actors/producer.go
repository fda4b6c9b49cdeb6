package actors

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"
)

// producerLink connects one actor to a Kafka producer: an idempotent sarama AsyncProducer, a
// goroutine that feeds it (so that the actor's Receive never blocks on sarama's input channel)
// and one that turns its answers into produced messages for the actor.
type producerLink struct {
	producer sarama.AsyncProducer
	in       chan *sarama.ProducerMessage
	wg       sync.WaitGroup
}

// newProducerLink wraps p. window is the most records the actor may have enqueued and not yet
// answered; the actor keeps to it, so enqueue never blocks.
func newProducerLink(p sarama.AsyncProducer, window int) *producerLink {
	return &producerLink{producer: p, in: make(chan *sarama.ProducerMessage, window)}
}

// start runs the feeding and answering goroutines; answers go to owner through root.
func (l *producerLink) start(root *actor.RootContext, owner *actor.PID) {
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
				root.Send(owner, &produced{meta: m.Metadata, written: -1})
			case e, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				root.Send(owner, &produced{meta: e.Msg.Metadata, err: e.Err, written: -1})
			}
		}
	}()
}

// enqueue hands a record to the feeding goroutine.
func (l *producerLink) enqueue(m *sarama.ProducerMessage) { l.in <- m }

// close stops the producer after its in-flight records are answered.
func (l *producerLink) close() error {
	close(l.in)
	err := l.producer.Close()
	l.wg.Wait()
	return err
}

// Reconnects and dead-letter writes are retried, forever, after a backoff between these; outputs
// take theirs from their retry block.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// jitterBackoff is the wait before retry number attempt (from 1): exponential from lo, capped at
// hi, with full jitter (uniform from 0 to that), so that writers that failed together do not
// retry together. It is at least a millisecond.
func jitterBackoff(lo, hi time.Duration, attempt int) time.Duration {
	b := min(lo<<min(max(attempt-1, 0), 20), hi)
	return max(rand.N(b+1), time.Millisecond)
}
