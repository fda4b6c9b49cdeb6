package messages

import "testing"

type completions []uint64

func (c *completions) Complete(t *Ticket) { *c = append(*c, t.ID) }

// TestTicketCompletesWithItsLastShare: a ticket completes once, when the last of its shares is
// done, in whatever order the holders finish; not before.
func TestTicketCompletesWithItsLastShare(t *testing.T) {
	var done completions
	ts := NewTickets(&done)
	worker := ts.Issue(7)
	a, b := worker.Split(), worker.Split()
	worker.Done() // decoded: the parts are still being written
	a.Done()
	if len(done) != 0 || ts.Open() != 1 {
		t.Fatalf("completed %v with a part unwritten (open %d)", done, ts.Open())
	}
	b.Done()
	if len(done) != 1 || done[0] != 7 || ts.Open() != 0 {
		t.Fatalf("completions %v, open %d; want [7], 0", done, ts.Open())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a share completed twice did not panic")
		}
	}()
	b.Done()
}

// TestTicketAbandonedNeverCompletes: a stop that gives up a part abandons its share; the ticket
// then never completes (its offsets stay uncommitted) and is no longer open.
func TestTicketAbandonedNeverCompletes(t *testing.T) {
	var done completions
	ts := NewTickets(&done)
	worker := ts.Issue(1)
	part := worker.Split()
	worker.Done()
	part.Abandon()
	part.Abandon() // a second abandon of the same share is nothing
	if len(done) != 0 || ts.Open() != 0 || ts.Leaked() != 0 {
		t.Fatalf("completions %v, open %d, leaked %d; want none", done, ts.Open(), ts.Leaked())
	}
}

// TestReleasedShareIsALeak: a batch released while its share is held (a hand-off that forgot to
// complete it) is counted as a leak, as a batch not returned to its pool would be, and the ticket
// is not left open forever.
func TestReleasedShareIsALeak(t *testing.T) {
	var done completions
	ts := NewTickets(&done)
	pool := NewShardBatchPool(1, 64)
	sb := <-pool.free
	worker := ts.Issue(3)
	sb.Ticket = worker.Split()
	worker.Done()
	sb.Release() // the writer forgot sb.Ticket.Done()
	if ts.Leaked() != 1 || len(done) != 0 || ts.Open() != 0 {
		t.Fatalf("leaked %d, completions %v, open %d; want 1, none, 0", ts.Leaked(), done, ts.Open())
	}
	if sb.Ticket.Held() {
		t.Fatal("a released batch still holds its share")
	}
}
