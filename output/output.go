// Package output is what every output type is to the pipeline: a component that knows nothing of
// actors. The pipeline's writers (actors/writer.go) keep the queues, flush each shard on its own,
// retry with backoff, hand refused parts to the dead-letter writer and acknowledge batches; an
// output builds a flush's parts from the encoded series, sends them, and says which errors are
// permanent and how long a failed part waits. Each type lives in a package of its own
// (output/kafka, output/remotewrite, output/otlp) and output/registry maps a config block's type
// to it: nothing else branches on the type.
package output

import (
	"context"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
)

// Output is one configured output.
type Output interface {
	// Start connects and checks what can be checked without writing data (a Kafka topic and its
	// partitions), and returns the output's shard count: the parts sent in parallel, each shard
	// with at most one part in flight.
	Start(ctx context.Context) (shards int, err error)
	// Writer returns the sender of one pipeline writer, which owns the output's shards [lo, hi).
	// Every part it sends is answered once, through answer, from a goroutine of the output's.
	Writer(lo, hi int, answer Answer) (Writer, error)
	// Stop closes the output's connections once the parts in flight are answered, or ends them.
	Stop() error
}

// Answer reports the outcome of one part: ref is what Send was given, written the samples the
// receiver says it wrote (-1 when it does not say), err nil on success.
type Answer func(ref any, written int64, err error)

// Writer is an output as one pipeline writer uses it. Shards are numbered within the output.
// Its methods are called from the writer's actor only.
type Writer interface {
	// Build makes the parts of one shard's flush from its segments (encoded remote-write 1.0
	// TimeSeries, in the order the batches came): the output's records or requests, ready to send.
	Build(shard int, segs Segments, parts *Parts)
	// Send sends one part without blocking; its answer comes through the Answer with ref. The
	// part's bytes are not touched until then.
	Send(shard int, part []byte, ref any)
	// Permanent reports whether retrying err cannot help.
	Permanent(err error) bool
	// NewPart resets shard's retry state for a part sent for the first time.
	NewPart(shard int)
	// RetryDelay is how long shard's part waits after its attempt-th failure, err.
	RetryDelay(shard int, err error, attempt int) time.Duration
	// DeadLetterSource is what a refused part's dead letter names as its source topic.
	DeadLetterSource() string
}

// Segments are a shard's flush: each encoded segment with its samples, in order.
type Segments interface {
	Each(fn func(data []byte, samples int))
}

// Parts are one flush's parts, in buffers reused from flush to flush.
type Parts struct {
	bufs    [][]byte
	samples []int64
	n       int
}

// Reset empties the parts for the next flush, keeping the buffers.
func (p *Parts) Reset() { p.n = 0 }

// Len is the number of parts.
func (p *Parts) Len() int { return p.n }

// Next returns the next part's buffer, empty, to append the part to before Add.
func (p *Parts) Next() []byte {
	if p.n == len(p.bufs) {
		p.bufs = append(p.bufs, nil)
		p.samples = append(p.samples, 0)
	}
	return p.bufs[p.n][:0]
}

// Add records part (Next's buffer, appended to) as the next part, holding samples datapoints.
func (p *Parts) Add(part []byte, samples int) {
	p.Next()
	p.bufs[p.n] = part
	p.samples[p.n] = int64(samples)
	p.n++
}

// Part returns part i and its samples.
func (p *Parts) Part(i int) ([]byte, int64) { return p.bufs[i], p.samples[i] }

// Endpoint is one endpoint of an output with several (replicas of one receiver), each behind a
// circuit breaker, as /metrics reports it.
type Endpoint struct {
	URL        string
	State      int32 // 0 closed, 1 open, 2 half-open
	OK, Failed int64 // requests
	Opens      int64 // times the breaker opened
}

// Endpoints is implemented by outputs with endpoints behind circuit breakers.
type Endpoints interface {
	Endpoints() []Endpoint
}

// Backoff is the wait before retry number attempt (from 1): exponential from lo, capped at hi,
// with full jitter (uniform from 0 to that), so that senders that failed together do not retry
// together. It is at least a millisecond.
func Backoff(lo, hi time.Duration, attempt int) time.Duration {
	b := min(lo<<min(max(attempt-1, 0), 20), hi)
	return max(rand.N(b+1), time.Millisecond)
}

// Factory makes the output of a config block (o, of the whole config cfg).
type Factory func(cfg *config.Config, o *config.Output) (Output, error)

// Degraded is what Start returns when the output can be used but not all of it: some replicas
// unreachable or failing. The pipeline logs it as a warning and starts.
type Degraded struct {
	Problems []string
}

func (d *Degraded) Error() string {
	return "some endpoints cannot be used now (their circuit breakers will keep requests away from them): " + strings.Join(d.Problems, "; ")
}

// Transactional is an output that writes in transactions and commits, in each, the input
// offsets its records cover (output "kafka" with delivery = "exactly_once"). Its writers' parts
// go into the open transaction; the pipeline calls Commit only when no part is in flight.
type Transactional interface {
	// Commit commits the open transaction with offsets, then opens the next one. After an
	// error the transaction is aborted (its records are never read by a read_committed
	// consumer, the offsets are not committed) and the output is not to be used again.
	Commit(offsets []GroupOffsets) error
	// Failed reports, once the producer has gone into an error state (a write the transaction
	// holds failed: the transaction can only be aborted), the error, after aborting it.
	Failed() error
	// TransactionalID names the output's transactional producer, for logs.
	TransactionalID() string
}

// GroupOffsets are the offsets one consumer-group member commits in a transaction, with the
// member's identity, so that the group coordinator refuses them from a member whose generation
// is over (KIP-447): a task that lost its partitions cannot commit for them.
type GroupOffsets struct {
	Group      string
	Generation int32
	Member     string
	// InstanceID is the member's static group instance id ("": none).
	InstanceID string
	// Offsets are, per topic and partition, the next offset to consume.
	Offsets map[string]map[int32]int64
}
