// Package placement decides which workers take an input partition's batches: the coordinator
// measures partition loads and calls Compute for a new set of Assignment, publishes them as an
// immutable, versioned Table, and readers ask the table for each batch's worker. It is pure
// code: no actor, no Kafka.
package placement

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Key names one input partition.
type Key struct {
	Topic     string
	Partition int32
}

func (k Key) String() string { return k.Topic + "/" + strconv.Itoa(int(k.Partition)) }

// Load is a partition's measured load (bytes per second, smoothed).
type Load struct {
	Key  Key
	Load float64
}

// Assignment maps a partition to the workers that take its batches: one for a pinned partition,
// several (round-robin by batch) for a spread one.
type Assignment map[Key][]int

// Table is one published, immutable version of the routes. Readers load the current one
// through an atomic pointer for every batch they send.
type Table struct {
	Version    uint64
	Assignment Assignment
}

// Worker returns the Worker for a batch of partition k, and false when the table does not know
// the partition (it was claimed after the table was computed).
func (t *Table) Worker(k Key, batchID uint64) (int, bool) {
	ws := t.Assignment[k]
	switch len(ws) {
	case 0:
		return 0, false
	case 1:
		return ws[0], true
	default:
		return ws[batchID%uint64(len(ws))], true
	}
}

// Params are the coordinator's tuning.
type Params struct {
	Workers   int
	HotFactor float64 // spread a partition above hotFactor × fair share
	MaxSpread int
}

const (
	// coolFactor is the hysteresis: a spread partition stays spread until its load falls below
	// coolFactor × hotFactor × fair share, so a load near the threshold does not flap.
	coolFactor = 0.8
	// StickySlack lets a pinned partition stay on its worker (or a member, in the balance
	// strategy) while that one's load stays within this fraction above its fair share, so
	// assignments move few partitions.
	StickySlack = 0.1
)

// Change is one partition whose workers changed between two tables.
type Change struct {
	Key      Key
	Old, New []int
	Load     float64
}

// Compute is the coordinator's decision, a pure function of the previous routes and the
// measured loads of the partitions claimed now (partitions absent from loads are dropped):
//
//   - fair share = total load / workers;
//   - a partition above hotFactor × fair share (coolFactor × that once spread) is spread over
//     ⌈load / fair share⌉ workers (at least 2, at most maxSpread and workers), the least loaded,
//     keeping its previous workers when their number does not change;
//   - every other partition is pinned to one worker, longest first onto the least loaded
//     worker (fewest partitions on a tie), except that a partition stays on its previous worker
//     while that worker's load stays within StickySlack of the fair share.
func Compute(prev Assignment, loads []Load, p Params) Assignment {
	next := make(Assignment, len(loads))
	if p.Workers <= 1 {
		for _, l := range loads {
			next[l.Key] = []int{0}
		}
		return next
	}
	sorted := slices.Clone(loads)
	slices.SortFunc(sorted, func(a, b Load) int {
		if c := cmp.Compare(b.Load, a.Load); c != 0 {
			return c
		}
		if c := strings.Compare(a.Key.Topic, b.Key.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Key.Partition, b.Key.Partition)
	})
	var total float64
	for _, l := range sorted {
		total += l.Load
	}
	fair := total / float64(p.Workers)
	load := make([]float64, p.Workers)
	count := make([]int, p.Workers)
	less := func(a, b int) bool { // a carries less than b
		if load[a] != load[b] {
			return load[a] < load[b]
		}
		if count[a] != count[b] {
			return count[a] < count[b]
		}
		return a < b
	}
	leastLoaded := func() int {
		best := 0
		for w := 1; w < p.Workers; w++ {
			if less(w, best) {
				best = w
			}
		}
		return best
	}
	valid := func(ws []int) bool {
		for _, w := range ws {
			if w < 0 || w >= p.Workers {
				return false
			}
		}
		return true
	}
	maxSpread := min(p.MaxSpread, p.Workers)

	var cold []Load
	for _, l := range sorted {
		old := prev[l.Key]
		threshold := p.HotFactor * fair
		if len(old) > 1 {
			threshold *= coolFactor
		}
		n := 0
		if total > 0 && l.Load > threshold && maxSpread > 1 {
			n = min(max(int(math.Ceil(l.Load/fair)), 2), maxSpread)
		}
		if n < 2 {
			cold = append(cold, l)
			continue
		}
		var ws []int
		if len(old) == n && valid(old) {
			ws = slices.Clone(old)
		} else {
			order := make([]int, p.Workers)
			for i := range order {
				order[i] = i
			}
			slices.SortFunc(order, func(a, b int) int {
				if less(a, b) {
					return -1
				}
				return 1
			})
			ws = order[:n:n]
			slices.Sort(ws)
		}
		for _, w := range ws {
			load[w] += l.Load / float64(n)
			count[w]++
		}
		next[l.Key] = ws
	}
	for _, l := range cold {
		w := leastLoaded()
		if old := prev[l.Key]; len(old) == 1 && valid(old) && old[0] != w &&
			load[old[0]]+l.Load <= fair*(1+StickySlack) {
			w = old[0]
		}
		load[w] += l.Load
		count[w]++
		next[l.Key] = []int{w}
	}
	return next
}

// Diff lists the partitions whose workers differ between prev and next (new partitions
// included, dropped ones not), in key order.
func Diff(prev, next Assignment, loads []Load) []Change {
	loadOf := make(map[Key]float64, len(loads))
	for _, l := range loads {
		loadOf[l.Key] = l.Load
	}
	var out []Change
	for k, ws := range next {
		if !slices.Equal(prev[k], ws) {
			out = append(out, Change{Key: k, Old: prev[k], New: ws, Load: loadOf[k]})
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		if c := strings.Compare(a.Key.Topic, b.Key.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Key.Partition, b.Key.Partition)
	})
	return out
}

// Imbalance is max/mean of per-worker figures (load, busy time): 1 is perfect balance, and so is
// no work at all.
func Imbalance(v []float64) float64 {
	var sum, mx float64
	for _, x := range v {
		sum += x
		mx = max(mx, x)
	}
	if sum == 0 {
		return 1
	}
	return mx / (sum / float64(len(v)))
}
