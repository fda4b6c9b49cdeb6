package messages

// Segment is a run of encoded remote-write TimeSeries (each a complete WriteRequest field 1)
// destined for one shard, stored in a ShardBatch's arena.
type Segment struct {
	Shard      uint32
	Start, End uint32
	Samples    uint32
}

// ShardBatch carries encoded series from one worker to one writer, for the shards that writer
// owns, sorted by (shard, series, timestamp). Concatenating a shard's segments gives a valid
// Prometheus remote-write WriteRequest.
type ShardBatch struct {
	// Ticket is this part's share of the RawBatch's completion; the writer completes it once
	// the output has acknowledged every segment.
	Ticket   Share
	Segments []Segment
	arena    []byte
	pool     *Pool[*ShardBatch]
}

// NewShardBatchPool preallocates n batches with arenaBytes bytes each.
func NewShardBatchPool(n, arenaBytes int) *Pool[*ShardBatch] {
	p := NewPool("shard", n, func() *ShardBatch {
		return &ShardBatch{Segments: make([]Segment, 0, 256), arena: make([]byte, 0, arenaBytes)}
	})
	for i := 0; i < n; i++ {
		b := <-p.free
		b.pool = p
		p.free <- b
	}
	return p
}

// Free is the number of arena bytes left.
func (b *ShardBatch) Free() int { return cap(b.arena) - len(b.arena) }

// Capacity is the arena's size.
func (b *ShardBatch) Capacity() int { return cap(b.arena) }

// Bytes is how many arena bytes are used.
func (b *ShardBatch) Bytes() int { return len(b.arena) }

// Samples is the number of datapoints in the batch.
func (b *ShardBatch) Samples() int {
	n := 0
	for _, s := range b.Segments {
		n += int(s.Samples)
	}
	return n
}

// Arena exposes the used bytes for appending encoders: callers append to Arena()[:len] within
// capacity and then call AddSegment.
func (b *ShardBatch) Arena() []byte { return b.arena }

// AddSegment records that data (which must be the arena extended in place, len(data) ≤ cap)
// now ends with a segment for shard holding samples datapoints.
func (b *ShardBatch) AddSegment(shard uint32, data []byte, samples int) {
	start := len(b.arena)
	if cap(data) != cap(b.arena) || len(data) < start {
		panic("messages: ShardBatch.AddSegment: data does not extend the arena in place")
	}
	b.arena = data
	if n := len(b.Segments); n > 0 && b.Segments[n-1].Shard == shard && int(b.Segments[n-1].End) == start {
		b.Segments[n-1].End = uint32(len(data))
		b.Segments[n-1].Samples += uint32(samples)
		return
	}
	b.Segments = append(b.Segments, Segment{Shard: shard, Start: uint32(start), End: uint32(len(data)), Samples: uint32(samples)})
}

// Data returns a segment's bytes.
func (b *ShardBatch) Data(s Segment) []byte { return b.arena[s.Start:s.End:s.End] }

// Reset empties the batch for reuse.
func (b *ShardBatch) Reset() {
	b.Segments = b.Segments[:0]
	b.arena = b.arena[:0]
}

// Release resets the batch and returns it to its pool. Only the batch's last owner calls it.
func (b *ShardBatch) Release() {
	b.Ticket.released()
	b.Reset()
	b.pool.Put(b)
}
