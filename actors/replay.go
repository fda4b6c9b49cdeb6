package actors

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/time/rate"

	"github.com/sluicehq/sluice/glob"
)

// Replay makes a pipeline re-ingest ranges of its input topics (`sluice replay`): its readers
// read each partition from where the group's committed offset says (the caller commits the
// range's first offset to a group of the replay's own beforehand) and skip every record at or past
// the partition's End, so that nothing beyond the range is decoded, written or committed.
type Replay struct {
	// End is, per input topic and partition, the first offset not replayed. A partition missing
	// from it is not read at all (every record is skipped).
	End map[string]map[int32]int64
	// Match, when not empty, keeps only datapoints whose metric name one of these globs matches
	// (after relabeling); the others are dropped and counted as unrouted.
	Match []string
	// Rate caps the datapoints written per second (0: no cap). Readers take records at a rate
	// re-tuned every second from the datapoints per record measured so far (SetReplayRate).
	Rate float64
}

// replayState is a Replay as the readers use it.
type replayState struct {
	end     map[string]map[int32]int64
	limiter *rate.Limiter // nil: no cap
	// reached is, per "topic/partition", whether the partition's reader took the range's last
	// record (or the claim started at or past End): what is left is in flight.
	mu      sync.Mutex
	reached map[tp]bool
}

type tp struct {
	topic     string
	partition int32
}

// SetReplay turns the pipeline into a replay of r. Call it after New and before Start.
func (p *Pipeline) SetReplay(r *Replay) error {
	if p.started {
		return errors.New("SetReplay after Start")
	}
	rs := &replayState{end: r.End, reached: map[tp]bool{}}
	if r.Rate > 0 {
		// A hundred datapoints a record (Telegraf's batches) until the first measurement, a
		// second later (SetReplayRate): a cautious start.
		rs.limiter = rate.NewLimiter(rate.Limit(r.Rate/100), 1)
	}
	p.d.replay = rs
	if len(r.Match) > 0 {
		m, err := glob.Compile(r.Match)
		if err != nil {
			return err
		}
		p.d.replayMatch = m
	}
	return nil
}

// SetReplayRate re-tunes the replay's record rate to records a second.
func (p *Pipeline) SetReplayRate(records float64) {
	if rs := p.d.replay; rs != nil && rs.limiter != nil && records > 0 {
		rs.limiter.SetLimit(rate.Limit(records))
		rs.limiter.SetBurst(max(1, int(records/10)))
	}
}

// ReplayPending is the number of replayed partitions whose range is not yet read to its end
// and acknowledged; 0 means the replay is complete once Stop commits the last offsets.
func (p *Pipeline) ReplayPending() int {
	rs := p.d.replay
	if rs == nil {
		return 0
	}
	inflight := map[tp]bool{}
	for _, c := range p.d.claims.snapshot() {
		if c.inflight.Load() > 0 {
			inflight[tp{c.Topic, c.Partition}] = true
		}
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	pending := 0
	for topic, parts := range rs.end {
		for part := range parts {
			if k := (tp{topic, part}); !rs.reached[k] || inflight[k] {
				pending++
			}
		}
	}
	return pending
}

// bound returns the first offset not replayed of a partition, and whether the pipeline is a
// replay at all.
func (rs *replayState) bound(topic string, partition int32) (int64, bool) {
	if rs == nil {
		return 0, false
	}
	if parts, ok := rs.end[topic]; ok {
		if end, ok := parts[partition]; ok {
			return end, true
		}
	}
	return -1, true // not in the replay: nothing of it is read
}

// reach records that a partition's range was read to its end.
func (rs *replayState) reach(topic string, partition int32) {
	rs.mu.Lock()
	rs.reached[tp{topic, partition}] = true
	rs.mu.Unlock()
}

// wait takes one record's token from the rate limiter, if any; false when ctx ended first.
func (rs *replayState) wait(ctx context.Context) bool {
	if rs == nil || rs.limiter == nil {
		return true
	}
	return rs.limiter.Wait(ctx) == nil
}
