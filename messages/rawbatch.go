package messages

// RawRecord locates one Kafka record inside a RawBatch's arena.
type RawRecord struct {
	Offset int64
	// Timestamp is the record's Kafka timestamp in milliseconds.
	Timestamp  int64
	Start, End uint32
}

// RawBatch holds Kafka record values of one partition, copied into a fixed byte arena.
type RawBatch struct {
	ID uint64
	// Ticket is the batch's share of its completion (ticket.go): the worker that decodes the
	// batch completes it when it has handed every part on, or it travels with the batch to the
	// next worker or the dead-letter writer.
	Ticket    Share
	Topic     string
	Partition int32
	// FirstOffset and LastOffset cover every record the batch accounts for, including records
	// that were skipped because they could not fit (Oversized).
	FirstOffset, LastOffset int64
	// Attempts counts deliveries to a worker that failed while holding the batch.
	Attempts int
	// Oversized counts records larger than the whole arena; they are accounted for (committed)
	// and counted as dropped with ReasonRecordTooLarge.
	Oversized int
	// LongLines counts lines longer than the whole arena, cut out of records of line-based
	// formats (ReasonLineTooLong).
	LongLines int
	// Poisoned lists records (by index) that made a worker fail on every attempt; workers skip
	// them and dead-letter them with PoisonError, so the rest of the batch is still delivered.
	Poisoned    []int32
	PoisonError string

	Records []RawRecord
	arena   []byte
	pool    *Pool[*RawBatch]
}

// NewRawBatchPool preallocates n batches of arenaBytes bytes and maxRecords records each.
func NewRawBatchPool(n, arenaBytes, maxRecords int) *Pool[*RawBatch] {
	p := NewPool("raw", n, func() *RawBatch {
		return &RawBatch{
			Records: make([]RawRecord, 0, maxRecords),
			arena:   make([]byte, 0, arenaBytes),
		}
	})
	// mk runs before p exists; set the back-references now.
	for i := 0; i < n; i++ {
		b := <-p.free
		b.pool = p
		p.free <- b
	}
	return p
}

// Empty reports whether the batch accounts for no record yet.
func (b *RawBatch) Empty() bool { return len(b.Records) == 0 && b.Oversized == 0 && b.LongLines == 0 }

// Room is how many more bytes one more record may have.
func (b *RawBatch) Room() int {
	if len(b.Records) == cap(b.Records) {
		return 0
	}
	return cap(b.arena) - len(b.arena)
}

// Capacity is the arena's size: the largest record a batch can hold.
func (b *RawBatch) Capacity() int { return cap(b.arena) }

// Len is the number of records stored in the arena.
func (b *RawBatch) Len() int { return len(b.Records) }

// Bytes is how many arena bytes are used.
func (b *RawBatch) Bytes() int { return len(b.arena) }

// Full reports whether no further record can be added.
func (b *RawBatch) Full() bool {
	return len(b.Records) == cap(b.Records) || len(b.arena) == cap(b.arena)
}

// Fits reports whether a record of n bytes fits in what is left.
func (b *RawBatch) Fits(n int) bool {
	return len(b.Records) < cap(b.Records) && len(b.arena)+n <= cap(b.arena)
}

// FitsEmpty reports whether a record of n bytes could ever fit in a batch of this size.
func (b *RawBatch) FitsEmpty(n int) bool { return n <= cap(b.arena) }

// Append copies value into the arena. The caller checks Fits first; Append returns false (and
// changes nothing) when it does not fit.
func (b *RawBatch) Append(offset, timestampMs int64, value []byte) bool {
	if !b.Fits(len(value)) {
		return false
	}
	return b.AppendChunk(offset, timestampMs, value, true)
}

// AppendChunk copies one piece of record offset (a run of whole lines, for records too large for
// one batch). Unless final, the batch's range ends before the record, so that the record is not
// committed until the batch holding its last piece is done.
func (b *RawBatch) AppendChunk(offset, timestampMs int64, value []byte, final bool) bool {
	if !b.Fits(len(value)) {
		return false
	}
	b.account(offset, final)
	start := len(b.arena)
	b.arena = append(b.arena, value...)
	b.Records = append(b.Records, RawRecord{Offset: offset, Timestamp: timestampMs, Start: uint32(start), End: uint32(len(b.arena))})
	return true
}

// SkipOversized accounts for a record whose value is larger than any arena.
func (b *RawBatch) SkipOversized(offset int64) {
	b.account(offset, true)
	b.Oversized++
}

// SkipLongLine accounts for a line of record offset longer than any arena; final as in
// AppendChunk.
func (b *RawBatch) SkipLongLine(offset int64, final bool) {
	b.account(offset, final)
	b.LongLines++
}

func (b *RawBatch) account(offset int64, final bool) {
	if b.Empty() {
		b.FirstOffset = offset
	}
	if final {
		b.LastOffset = offset
	} else {
		b.LastOffset = offset - 1
	}
}

// Value returns record i's bytes.
func (b *RawBatch) Value(i int) []byte {
	r := b.Records[i]
	return b.arena[r.Start:r.End:r.End]
}

// Reset empties the batch for reuse.
func (b *RawBatch) Reset() {
	b.ID, b.Topic, b.Partition = 0, "", 0
	b.FirstOffset, b.LastOffset, b.Attempts, b.Oversized, b.LongLines = 0, 0, 0, 0, 0
	b.Poisoned, b.PoisonError = b.Poisoned[:0], ""
	b.Records = b.Records[:0]
	b.arena = b.arena[:0]
}

// Release resets the batch and returns it to its pool. Only the batch's last owner calls it.
func (b *RawBatch) Release() {
	b.Ticket.released()
	b.Reset()
	b.pool.Put(b)
}

// IsPoisoned reports whether record i is marked poisoned.
func (b *RawBatch) IsPoisoned(i int) bool {
	for _, p := range b.Poisoned {
		if int(p) == i {
			return true
		}
	}
	return false
}
