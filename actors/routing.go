package actors

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// partitionKey names one input partition.
type partitionKey struct {
	topic     string
	partition int32
}

func (k partitionKey) String() string { return k.topic + "/" + strconv.Itoa(int(k.partition)) }

// partitionLoad is a partition's measured load (bytes per second, smoothed).
type partitionLoad struct {
	key  partitionKey
	load float64
}

// routes maps a partition to the workers that take its batches: one for a pinned partition,
// several (round-robin by batch) for a spread one.
type routes map[partitionKey][]int

// routingTable is one published, immutable version of the routes. Readers load the current one
// through an atomic pointer for every batch they send.
type routingTable struct {
	version uint64
	routes  routes
}

// worker returns the worker for a batch of partition k, and false when the table does not know
// the partition (it was claimed after the table was computed).
func (t *routingTable) worker(k partitionKey, batchID uint64) (int, bool) {
	ws := t.routes[k]
	switch len(ws) {
	case 0:
		return 0, false
	case 1:
		return ws[0], true
	default:
		return ws[batchID%uint64(len(ws))], true
	}
}

// routeParams are the coordinator's tuning.
type routeParams struct {
	workers   int
	hotFactor float64 // spread a partition above hotFactor × fair share
	maxSpread int
}

const (
	// coolFactor is the hysteresis: a spread partition stays spread until its load falls below
	// coolFactor × hotFactor × fair share, so a load near the threshold does not flap.
	coolFactor = 0.8
	// stickySlack lets a pinned partition stay on its worker while that worker's load stays
	// within this fraction above the fair share, so tables move few partitions.
	stickySlack = 0.1
)

// routeChange is one partition whose workers changed between two tables.
type routeChange struct {
	key      partitionKey
	old, new []int
	load     float64
}

// computeRoutes is the coordinator's decision, a pure function of the previous routes and the
// measured loads of the partitions claimed now (partitions absent from loads are dropped):
//
//   - fair share = total load / workers;
//   - a partition above hotFactor × fair share (coolFactor × that once spread) is spread over
//     ⌈load / fair share⌉ workers (at least 2, at most maxSpread and workers), the least loaded,
//     keeping its previous workers when their number does not change;
//   - every other partition is pinned to one worker, longest first onto the least loaded
//     worker (fewest partitions on a tie), except that a partition stays on its previous worker
//     while that worker's load stays within stickySlack of the fair share.
func computeRoutes(prev routes, loads []partitionLoad, p routeParams) routes {
	next := make(routes, len(loads))
	if p.workers <= 1 {
		for _, l := range loads {
			next[l.key] = []int{0}
		}
		return next
	}
	sorted := slices.Clone(loads)
	slices.SortFunc(sorted, func(a, b partitionLoad) int {
		if c := cmp.Compare(b.load, a.load); c != 0 {
			return c
		}
		if c := strings.Compare(a.key.topic, b.key.topic); c != 0 {
			return c
		}
		return cmp.Compare(a.key.partition, b.key.partition)
	})
	var total float64
	for _, l := range sorted {
		total += l.load
	}
	fair := total / float64(p.workers)
	load := make([]float64, p.workers)
	count := make([]int, p.workers)
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
		for w := 1; w < p.workers; w++ {
			if less(w, best) {
				best = w
			}
		}
		return best
	}
	valid := func(ws []int) bool {
		for _, w := range ws {
			if w < 0 || w >= p.workers {
				return false
			}
		}
		return true
	}
	maxSpread := min(p.maxSpread, p.workers)

	var cold []partitionLoad
	for _, l := range sorted {
		old := prev[l.key]
		threshold := p.hotFactor * fair
		if len(old) > 1 {
			threshold *= coolFactor
		}
		n := 0
		if total > 0 && l.load > threshold && maxSpread > 1 {
			n = min(max(int(math.Ceil(l.load/fair)), 2), maxSpread)
		}
		if n < 2 {
			cold = append(cold, l)
			continue
		}
		var ws []int
		if len(old) == n && valid(old) {
			ws = slices.Clone(old)
		} else {
			order := make([]int, p.workers)
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
			load[w] += l.load / float64(n)
			count[w]++
		}
		next[l.key] = ws
	}
	for _, l := range cold {
		w := leastLoaded()
		if old := prev[l.key]; len(old) == 1 && valid(old) && old[0] != w &&
			load[old[0]]+l.load <= fair*(1+stickySlack) {
			w = old[0]
		}
		load[w] += l.load
		count[w]++
		next[l.key] = []int{w}
	}
	return next
}

// diffRoutes lists the partitions whose workers differ between prev and next (new partitions
// included, dropped ones not), in key order.
func diffRoutes(prev, next routes, loads []partitionLoad) []routeChange {
	loadOf := make(map[partitionKey]float64, len(loads))
	for _, l := range loads {
		loadOf[l.key] = l.load
	}
	var out []routeChange
	for k, ws := range next {
		if !slices.Equal(prev[k], ws) {
			out = append(out, routeChange{key: k, old: prev[k], new: ws, load: loadOf[k]})
		}
	}
	slices.SortFunc(out, func(a, b routeChange) int {
		if c := strings.Compare(a.key.topic, b.key.topic); c != 0 {
			return c
		}
		return cmp.Compare(a.key.partition, b.key.partition)
	})
	return out
}

// imbalance is max/mean of per-worker figures (load, busy time): 1 is perfect balance, and so is
// no work at all.
func imbalance(v []float64) float64 {
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
