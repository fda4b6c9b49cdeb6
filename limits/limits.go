// Package limits enforces cardinality budgets: at most max_series distinct series per window for
// the metrics a budget's globs match, or for each value of a tag (a tenant, a team).
//
// A budget is judged per series, never per datapoint: a worker asks Admit once for each series
// its cache holds in each window, and caches the answer. What it decides:
//
//   - a series admitted in the window keeps flowing whole until the window ends (the admitted
//     series are an exact set, bounded by max_series);
//   - a new series is admitted while the budget has room and its hash is below the window's
//     threshold: 1 (every series) in a window that follows one within budget, else max_series /
//     the previous window's distinct series (rounded down to a power of 2^(1/4)), so that in a
//     lasting explosion every task keeps the same series — the decision depends only on the
//     series hash and on a count every task sees alike when every series reaches every task;
//   - over budget, every new series is dropped, on every task.
//
// Distinct series per window are counted exactly up to exactLimit and with a HyperLogLog sketch
// (github.com/axiomhq/hyperloglog, precision 14: standard error 0.81 %) beyond.
package limits

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axiomhq/hyperloglog"
	"github.com/cespare/xxhash/v2"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/glob"
	"github.com/sluicehq/sluice/messages"
)

const (
	// exactLimit is how many distinct series a window counts exactly before its sketch takes over.
	exactLimit = 4096
	// sampleSeries is how many dropped series of a window are looked at for the offending tags.
	sampleSeries = 200
	// OtherValue names the shared budget of a per_tag budget's values past max_values.
	OtherValue = "__other__"
	all        = math.MaxUint64
)

// Set is the budgets of one configuration, shared by every worker of the process.
type Set struct {
	window  time.Duration
	budgets []*budget
	log     hclog.Logger
}

type budget struct {
	name      string
	match     *glob.Matcher // nil: every metric
	perTag    []byte
	max       int
	maxValues int
	// dropped counts the budget's dropped datapoints (workers add theirs after each batch).
	dropped atomic.Int64

	mu     sync.Mutex
	states map[string]*state // by tag value ("" without per_tag)
	order  []*state          // the states in creation order, for metrics
}

// state is one budget's (or one tag value's) window.
type state struct {
	value     string
	epoch     int64
	admitted  map[uint64]struct{}
	exact     map[uint64]struct{} // distinct series while few
	sketch    *hyperloglog.Sketch // distinct series beyond
	threshold uint64              // new series are admitted when their hash is below it
	dropping  bool                // the window dropped a series
	wasDrop   bool                // the window before dropped a series
	logged    bool                // the start of dropping was logged
	sampled   int
	sample    map[string]map[uint64]struct{} // tag key → hashes of its values among dropped series
}

// New builds the budgets of cfg (validated). log receives the lines saying when a budget starts
// and stops dropping. A budget of prev (the set a reload replaces; nil at start) with the same
// name passes its count of dropped datapoints on, so that the counter never goes back.
func New(cfg *config.Limits, log hclog.Logger, prev *Set) (*Set, error) {
	s := &Set{window: cfg.Window, log: log}
	for _, b := range cfg.Budgets {
		nb := &budget{name: b.Name, max: b.MaxSeries, maxValues: b.MaxValues, states: map[string]*state{}}
		if b.PerTag != "" {
			nb.perTag = []byte(b.PerTag)
		}
		if len(b.Match) > 0 {
			m, err := glob.Compile(b.Match)
			if err != nil {
				return nil, err
			}
			nb.match = m
		}
		if prev != nil {
			for _, pb := range prev.budgets {
				if pb.name == nb.name {
					nb.dropped.Store(pb.dropped.Load())
				}
			}
		}
		s.budgets = append(s.budgets, nb)
	}
	return s, nil
}

// Empty reports whether the set has no budget (a nil Set is empty).
func (s *Set) Empty() bool { return s == nil || len(s.budgets) == 0 }

// Len is how many budgets the set has.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.budgets)
}

// Epoch is the number of the window holding nowMs; windows are aligned to the Unix epoch.
func (s *Set) Epoch(nowMs int64) int64 { return nowMs / s.window.Milliseconds() }

// Matching returns the budgets a metric is subject to, as a bit mask (bit i: budget i).
func (s *Set) Matching(metric []byte) uint64 {
	var m uint64
	for i, b := range s.budgets {
		if b.match == nil || b.match.Match(metric) {
			m |= 1 << i
		}
	}
	return m
}

// Admit judges a series (its hash, its tags) against the budgets of mask in window epoch: it
// returns -1 when every budget admits it, else the index of the first budget that drops it.
func (s *Set) Admit(mask uint64, hash uint64, tags []messages.Tag, epoch int64) int {
	for i, b := range s.budgets {
		if mask&(1<<i) == 0 {
			continue
		}
		value, ok := []byte(nil), true
		if b.perTag != nil {
			value, ok = tagValue(tags, b.perTag)
			if !ok {
				continue // the series has no such tag: the budget does not count it
			}
		}
		if !b.admit(s, value, hash, tags, epoch) {
			return i
		}
	}
	return -1
}

func tagValue(tags []messages.Tag, key []byte) ([]byte, bool) {
	for _, t := range tags {
		if string(t.Key) == string(key) {
			return t.Value, true
		}
	}
	return nil, false
}

// AddDropped counts n datapoints budget i dropped.
func (s *Set) AddDropped(i int, n int64) { s.budgets[i].dropped.Add(n) }

func (b *budget) admit(s *Set, value []byte, hash uint64, tags []messages.Tag, epoch int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.states[string(value)]
	if !ok {
		name := string(value)
		if len(b.states) >= b.maxValues && b.perTag != nil {
			name = OtherValue
			st = b.states[OtherValue]
		}
		if st == nil {
			st = &state{value: name, epoch: epoch, threshold: all, admitted: map[uint64]struct{}{}, exact: map[uint64]struct{}{}}
			b.states[name] = st
			b.order = append(b.order, st)
		}
	}
	if st.epoch != epoch {
		b.roll(s, st, epoch)
	}
	if _, ok := st.admitted[hash]; ok {
		return true
	}
	st.count(hash)
	if len(st.admitted) < b.max && hash < st.threshold {
		st.admitted[hash] = struct{}{}
		return true
	}
	if !st.dropping {
		st.dropping = true
	}
	st.note(tags, b.perTag)
	if !st.logged && st.sampled >= sampleSeries {
		b.logStart(s, st)
	}
	return false
}

// count adds a series to the window's distinct count.
func (st *state) count(hash uint64) {
	if st.sketch == nil {
		st.exact[hash] = struct{}{}
		if len(st.exact) <= exactLimit {
			return
		}
		st.sketch = hyperloglog.New14()
		for h := range st.exact {
			st.sketch.InsertHash(h)
		}
		clear(st.exact)
		return
	}
	st.sketch.InsertHash(hash)
}

// distinct is the window's estimate of distinct series.
func (st *state) distinct() uint64 {
	if st.sketch == nil {
		return uint64(len(st.exact))
	}
	return st.sketch.Estimate()
}

// note samples a dropped series' tags: distinct values per key, for the start-of-dropping line.
func (st *state) note(tags []messages.Tag, skip []byte) {
	if st.sampled >= sampleSeries {
		return
	}
	st.sampled++
	if st.sample == nil {
		st.sample = map[string]map[uint64]struct{}{}
	}
	for _, t := range tags {
		if string(t.Key) == string(skip) {
			continue
		}
		vals, ok := st.sample[string(t.Key)]
		if !ok {
			vals = map[uint64]struct{}{}
			st.sample[string(t.Key)] = vals
		}
		vals[xxhash.Sum64(t.Value)] = struct{}{}
	}
}

// roll ends st's window: the next one's threshold comes from this one's distinct series.
func (b *budget) roll(s *Set, st *state, epoch int64) {
	if st.dropping && !st.logged {
		b.logStart(s, st)
	}
	n := st.distinct()
	if !st.dropping && st.wasDrop && epoch == st.epoch+1 {
		s.log.Info("cardinality budget stopped dropping", b.fields(st, "distinct_series", n)...)
	}
	st.threshold = threshold(b.max, n)
	if epoch != st.epoch+1 { // windows went by without a series: start over
		st.threshold = all
	}
	st.wasDrop = st.dropping
	st.epoch, st.dropping, st.logged, st.sampled = epoch, false, false, 0
	clear(st.admitted)
	clear(st.exact)
	st.sketch, st.sample = nil, nil
}

// threshold is the hash bound for a window after one of n distinct series against max: every
// hash when n fits, else max/n of them, rounded down to a power of 2^(1/4) so that tasks whose
// estimates differ a little agree.
func threshold(max int, n uint64) uint64 {
	if n <= uint64(max) {
		return all
	}
	f := float64(max) / float64(n)
	f = math.Pow(2, math.Floor(math.Log2(f)*4)/4)
	return uint64(f * float64(math.MaxUint64))
}

func (b *budget) fields(st *state, kv ...any) []any {
	f := []any{"limit", b.name}
	if b.perTag != nil {
		f = append(f, "tag", string(b.perTag), "value", st.value)
	}
	return append(f, kv...)
}

// logStart logs that a budget started dropping, with the tag keys that have the most distinct
// values among the dropped series sampled.
func (b *budget) logStart(s *Set, st *state) {
	st.logged = true
	type kc struct {
		key string
		n   int
	}
	var keys []kc
	for k, v := range st.sample {
		keys = append(keys, kc{k, len(v)})
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].n > keys[j].n || keys[i].n == keys[j].n && keys[i].key < keys[j].key
	})
	var top []string
	for i, k := range keys {
		if i == 3 {
			break
		}
		top = append(top, k.key+"="+strconv.Itoa(k.n))
	}
	s.log.Warn("cardinality budget is dropping new series", b.fields(st, "max_series", b.max, "distinct_series", st.distinct(),
		"top_tag_keys", strings.Join(top, ","), "sampled_series", st.sampled)...)
}

// Usage is one budget's (or tag value's) state, for /metrics.
type Usage struct {
	Limit, Value string
	Series       uint64 // distinct series in the current window (estimate)
	Admitted     int
	Max          int // the budget's max_series
	Dropping     bool
}

// Usage returns every budget's current window, and the datapoints each budget dropped.
func (s *Set) Usage() (out []Usage, dropped map[string]int64) {
	dropped = map[string]int64{}
	if s == nil {
		return nil, dropped
	}
	for _, b := range s.budgets {
		dropped[b.name] = b.dropped.Load()
		b.mu.Lock()
		for _, st := range b.order {
			out = append(out, Usage{Limit: b.name, Value: st.value, Series: st.distinct(), Admitted: len(st.admitted), Max: b.max, Dropping: st.dropping})
		}
		b.mu.Unlock()
	}
	return out, dropped
}

// Names are the budgets' names, in order.
func (s *Set) Names() []string {
	var n []string
	if s != nil {
		for _, b := range s.budgets {
			n = append(n, b.name)
		}
	}
	return n
}
