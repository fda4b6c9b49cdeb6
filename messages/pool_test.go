package messages

import (
	"context"
	"testing"
	"time"
)

func TestPoolBoundsAndNotifies(t *testing.T) {
	p := NewShardBatchPool(2, 1024)
	a, _ := p.TryGet()
	b, _ := p.TryGet()
	if p.InUse() != 2 {
		t.Fatalf("InUse = %d, want 2", p.InUse())
	}
	if _, ok := p.TryGet(); ok {
		t.Fatal("TryGet succeeded on an empty pool")
	}
	notified := make(chan struct{}, 1)
	if _, ok := p.GetOrNotify(func() { notified <- struct{}{} }); ok {
		t.Fatal("GetOrNotify succeeded on an empty pool")
	}
	a.Release()
	select {
	case <-notified:
	case <-time.After(time.Second):
		t.Fatal("waiter not notified after Put")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	c, err := p.Get(ctx)
	if err != nil || c != a {
		t.Fatalf("Get after release: %v", err)
	}
	if _, err := p.Get(ctx); err == nil {
		t.Fatal("Get on an empty pool returned before its context ended")
	}
	b.Release()
	c.Release()
	if p.InUse() != 0 {
		t.Fatalf("InUse = %d after releasing everything", p.InUse())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("returning more items than the pool owns did not panic")
		}
	}()
	p.Put(a)
}

func TestRawBatchArena(t *testing.T) {
	p := NewRawBatchPool(1, 10, 3)
	b, _ := p.TryGet()
	if !b.Append(5, 1, []byte("abcd")) || !b.Append(6, 2, []byte("efgh")) {
		t.Fatal("append failed with room left")
	}
	if b.Append(7, 3, []byte("ijk")) {
		t.Fatal("append past the arena succeeded")
	}
	if b.FitsEmpty(11) || !b.FitsEmpty(10) {
		t.Fatal("FitsEmpty wrong")
	}
	b.SkipOversized(7)
	if string(b.Value(0)) != "abcd" || string(b.Value(1)) != "efgh" || b.FirstOffset != 5 || b.LastOffset != 7 || b.Oversized != 1 {
		t.Fatalf("batch state wrong: %q %q %d..%d", b.Value(0), b.Value(1), b.FirstOffset, b.LastOffset)
	}
	// A value is capped: appending to it cannot overwrite the next record.
	v := b.Value(0)
	_ = append(v, 'X')
	if string(b.Value(1)) != "efgh" {
		t.Fatal("record value not capped")
	}
	b.Release()
	b, _ = p.TryGet()
	if !b.Empty() || b.Bytes() != 0 || b.Oversized != 0 {
		t.Fatal("released batch not reset")
	}
}

func TestShardBatchMergesAdjacentSegments(t *testing.T) {
	p := NewShardBatchPool(1, 64)
	b, _ := p.TryGet()
	b.AddSegment(3, append(b.Arena(), "aa"...), 1)
	b.AddSegment(3, append(b.Arena(), "bb"...), 2)
	b.AddSegment(4, append(b.Arena(), "cc"...), 1)
	if len(b.Segments) != 2 || string(b.Data(b.Segments[0])) != "aabb" || b.Segments[0].Samples != 3 || b.Samples() != 4 {
		t.Fatalf("segments %+v", b.Segments)
	}
}

// TestChunkedRecordOffsets pins what lets a record larger than a batch be spread over batches
// safely: a batch holding a non-final piece of record R ends its range at R-1, so the tracker
// (which commits LastOffset+1) never commits R before its last piece is done.
func TestChunkedRecordOffsets(t *testing.T) {
	p := NewRawBatchPool(3, 64, 8)
	a, _ := p.TryGet()
	a.Append(10, 0, []byte("whole\n"))
	a.AppendChunk(11, 0, []byte("first piece\n"), false)
	if a.FirstOffset != 10 || a.LastOffset != 10 {
		t.Fatalf("batch with a non-final piece of 11 covers %d..%d, want 10..10", a.FirstOffset, a.LastOffset)
	}
	b, _ := p.TryGet()
	b.AppendChunk(11, 0, []byte("middle piece\n"), false)
	if b.Empty() || b.LastOffset != 10 {
		t.Fatalf("middle-piece batch: empty=%v last=%d, want non-empty, 10", b.Empty(), b.LastOffset)
	}
	c, _ := p.TryGet()
	c.SkipLongLine(11, false)
	c.AppendChunk(11, 0, []byte("last piece\n"), true)
	if c.LastOffset != 11 || c.LongLines != 1 || c.FirstOffset != 11 {
		t.Fatalf("last-piece batch covers %d..%d with %d long lines", c.FirstOffset, c.LastOffset, c.LongLines)
	}
	a.Release()
	b.Release()
	c.Release()
}
