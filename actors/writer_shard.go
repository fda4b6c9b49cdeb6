package actors

import (
	"time"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/output"
)

// A writer's shards: what each queues, the flush in flight and the parts its output built from it
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

	flushing flushSegments // the flush in flight
	flushID  uint64
	// flushStart is when the flush in flight began: its parts' write latency counts from it,
	// retries included.
	flushStart time.Time
	// samples is the flush's datapoints, rejected those of them the output refused for good.
	samples, rejected int64

	parts    output.Parts // the output's records or requests; the buffers are reused
	next     int          // the part in flight
	pending  bool
	attempts int
	firstTry time.Time // when the part in flight was first sent
}

// flushSegments are a flush's segment runs, as the output reads them (output.Segments).
type flushSegments []segRun

// Each calls fn with the data and samples of every segment, in the order the batches came.
func (f flushSegments) Each(fn func(data []byte, samples int)) {
	for _, r := range f {
		for _, seg := range r.b.Segments[r.lo:r.hi] {
			fn(r.b.Data(seg), int(seg.Samples))
		}
	}
}

// countSamples is the flush's datapoints.
func (f flushSegments) countSamples() int64 {
	var n int64
	for _, r := range f {
		for _, seg := range r.b.Segments[r.lo:r.hi] {
			n += int64(seg.Samples)
		}
	}
	return n
}
