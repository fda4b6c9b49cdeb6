package messages

// DeadLetter locates one rejected line (or record) in a DeadLetterBatch's arena.
type DeadLetter struct {
	Offset     int64 // of the source record
	Reason     Reason
	Detail     string
	Start, End uint32
}

// DeadLetterBatch carries the unparseable lines of one RawBatch from a worker to the dead-letter
// writer, copied (the RawBatch is released as soon as it is decoded). The writer acks it to the
// offset tracker like any other part of the batch (its Ticket share), so the source offsets are committed only after
// the dead-letter topic has the lines.
type DeadLetterBatch struct {
	Ticket    Share // this part's share of the RawBatch's completion
	Topic     string
	Partition int32
	Entries   []DeadLetter
	arena     []byte
	pool      *Pool[*DeadLetterBatch]
}

// NewDeadLetterPool preallocates n batches with arenaBytes bytes each.
func NewDeadLetterPool(n, arenaBytes int) *Pool[*DeadLetterBatch] {
	p := NewPool("deadletter", n, func() *DeadLetterBatch {
		return &DeadLetterBatch{Entries: make([]DeadLetter, 0, 64), arena: make([]byte, 0, arenaBytes)}
	})
	for i := 0; i < n; i++ {
		b := <-p.free
		b.pool = p
		p.free <- b
	}
	return p
}

// Add copies line; it reports false (adding nothing) when the arena has no room, unless the
// batch is empty, in which case the line is cut to fit.
func (b *DeadLetterBatch) Add(offset int64, reason Reason, detail string, line []byte) bool {
	room := cap(b.arena) - len(b.arena)
	if len(line) > room {
		if len(b.Entries) > 0 {
			return false
		}
		line = line[:room]
	}
	start := len(b.arena)
	b.arena = append(b.arena, line...)
	b.Entries = append(b.Entries, DeadLetter{Offset: offset, Reason: reason, Detail: detail, Start: uint32(start), End: uint32(len(b.arena))})
	return true
}

// Line returns entry i's bytes.
func (b *DeadLetterBatch) Line(i int) []byte {
	e := b.Entries[i]
	return b.arena[e.Start:e.End:e.End]
}

// Reset empties the batch for reuse.
func (b *DeadLetterBatch) Reset() {
	b.Topic, b.Partition = "", 0
	clear(b.Entries)
	b.Entries = b.Entries[:0]
	b.arena = b.arena[:0]
}

// Release resets the batch and returns it to its pool. Only the batch's last owner calls it.
func (b *DeadLetterBatch) Release() {
	b.Ticket.released()
	b.Reset()
	b.pool.Put(b)
}
