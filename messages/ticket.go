package messages

import "sync/atomic"

// The ack protocol as a type. An input batch's offsets may be committed only once everything made
// from it is written: its datapoints by the outputs, its bad lines and poison records to the
// dead-letter topic. A Ticket is that completion. The reader issues one per RawBatch (Tickets.Issue)
// and the batch carries its first Share. Every hand-off of part of the batch to another actor —
// a ShardBatch to a writer, a DeadLetterBatch to the dead-letter writer — takes a share of its own
// (Split) that travels with the part; the owner of a share completes it (Done) when its part is
// written. When the last share is done the ticket is complete, once, and the Tickets' completer
// is told (the offset tracker, which then marks the batch's offsets).
//
// A share is completed or abandoned exactly once. A batch released to its pool while still holding
// a share is a bug that would stall its partition's commits; it is counted (Tickets.Leaked) and
// tests fail on it, as on a pool leak. A stop that gives up on batches abandons their shares
// (Abandon): their offsets stay uncommitted, and they are consumed again after the restart.

// Completer is told when a ticket completes.
type Completer interface{ Complete(*Ticket) }

// Tickets issues tickets and counts what becomes of them.
type Tickets struct {
	done                                 Completer
	issued, completed, abandoned, leaked atomic.Int64
}

// NewTickets returns an issuer whose completed tickets are handed to done.
func NewTickets(done Completer) *Tickets { return &Tickets{done: done} }

// Issue makes the ticket of input batch id and returns its first share.
func (ts *Tickets) Issue(id uint64) Share {
	t := &Ticket{ID: id, tickets: ts}
	t.open.Store(1)
	ts.issued.Add(1)
	return Share{t: t}
}

// Open is the number of tickets issued and neither complete nor abandoned.
func (ts *Tickets) Open() int64 {
	return ts.issued.Load() - ts.completed.Load() - ts.abandoned.Load()
}

// Abandoned is the number of tickets a stop gave up on (or that a leak cut short): batches whose
// offsets stay uncommitted.
func (ts *Tickets) Abandoned() int64 { return ts.abandoned.Load() }

// Leaked is the number of shares released with their batch without being completed or abandoned.
func (ts *Tickets) Leaked() int64 { return ts.leaked.Load() }

// Ticket is one input batch's completion.
type Ticket struct {
	ID      uint64
	open    atomic.Int32 // shares not yet done
	gone    atomic.Bool  // a share was abandoned or leaked: the ticket never completes
	tickets *Tickets
}

// Share is one holder's part of a ticket. The zero Share holds nothing.
type Share struct{ t *Ticket }

// Held reports whether the share is still to be completed.
func (s Share) Held() bool { return s.t != nil }

// ID is the input batch's id (0 for the zero Share).
func (s Share) ID() uint64 {
	if s.t == nil {
		return 0
	}
	return s.t.ID
}

// Split takes a new share of s's ticket for a part handed to another actor; s stays held.
func (s Share) Split() Share {
	if s.t == nil {
		panic("messages: Split of a share not held")
	}
	s.t.open.Add(1)
	return Share{t: s.t}
}

// Done completes the share: its part is written. The ticket completes with its last share.
func (s *Share) Done() {
	t := s.t
	if t == nil {
		panic("messages: Done of a share not held (completed twice, or never issued)")
	}
	s.t = nil
	if t.open.Add(-1) == 0 && !t.gone.Load() {
		t.tickets.completed.Add(1)
		t.tickets.done.Complete(t)
	}
}

// Abandon gives the share up without completing it: the pipeline stops before its part was
// written, and the batch's offsets stay uncommitted.
func (s *Share) Abandon() {
	if t := s.t; t != nil {
		s.t = nil
		if !t.gone.Swap(true) {
			t.tickets.abandoned.Add(1)
		}
	}
}

// released is called by a batch's Release: a share still held there is a leak.
func (s *Share) released() {
	if t := s.t; t != nil {
		s.t = nil
		t.tickets.leaked.Add(1)
		if !t.gone.Swap(true) {
			t.tickets.abandoned.Add(1)
		}
	}
}
