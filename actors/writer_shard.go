package actors

import (
	"time"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
)

// A writer's shards: what each queues, the flush in flight and the parts a sink builds from it
// (writer.go moves them; this is the data they are made of).

// segRun is one batch's segments for one shard: b.Segments[lo:hi].
type segRun struct {
	b      *messages.ShardBatch
	lo, hi int
}

// shardState is one shard's queue and its flush in flight.
type shardState struct {
	queue      []segRun // waiting for the shard's next flush
	queueBytes int
	lingering  bool // a lingerTick for the shard is on its way
	due        bool // flush as soon as the flush in flight completes

	flushing []segRun // the flush in flight
	flushID  uint64
	// flushStart is when the flush in flight began: its parts' write latency counts from it,
	// retries included.
	flushStart time.Time
	// samples is the flush's datapoints, rejected those of them the output refused for good.
	samples, rejected int64

	parts       [][]byte // compressed records or requests; the buffers are reused
	partSamples []int64
	n, next     int // parts in this flush; the one in flight
	pending     bool
	attempts    int
	firstTry    time.Time // when the part in flight was first sent
}

// eachSegment calls fn with the data and samples of every segment of the shard's flush, in the
// order the batches came.
func (st *shardState) eachSegment(fn func(data []byte, samples int)) {
	for _, r := range st.flushing {
		for _, seg := range r.b.Segments[r.lo:r.hi] {
			fn(r.b.Data(seg), int(seg.Samples))
			st.samples += int64(seg.Samples)
		}
	}
}

// addPart compresses req into the shard's next part buffer.
func (st *shardState) addPart(req []byte, samples int) {
	if st.n == len(st.parts) {
		st.parts = append(st.parts, nil)
		st.partSamples = append(st.partSamples, 0)
	}
	st.parts[st.n] = remotewrite.Compress(st.parts[st.n][:0], req)
	st.partSamples[st.n] = int64(samples)
	st.n++
}
