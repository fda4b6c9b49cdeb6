package actors

import (
	"testing"

	"github.com/sluicehq/sluice/messages"
)

// TestNoMessageIsABatch guards against a protoactor trap: a message with a GetMessages method
// is treated as a batch of messages and delivered twice (as itself and as its contents).
func TestNoMessageIsABatch(t *testing.T) {
	type batchLike interface{ GetMessages() []any }
	for _, m := range []any{&messages.RawBatch{}, &messages.ShardBatch{}, &Track{}, &Expect{}, &Decoded{},
		&Acked{}, StopFetching{}, Flush{}, poolReady{}, lingerTick{}, &produced{}, &retryShard{}, &retryDeadLetter{}, beginShutdown{}, &messages.DeadLetterBatch{}, &PoisonBatch{}, &rejectedRecord{}, &rejectedDone{}} {
		if _, ok := m.(batchLike); ok {
			t.Errorf("%T has a GetMessages method; protoactor would deliver it twice", m)
		}
	}
}
