package actors

import (
	"math"
	"sync/atomic"
	"time"
)

// latencyHist is a histogram of record latency — from a record's Kafka timestamp to the moment
// every datapoint of its batch was acknowledged by the output — over logarithmic buckets from
// 1 ms, each 1.25× the one before, so a quantile is at most 25 % above the true value. The offset
// tracker records into it once per batch; anyone may read it.
type latencyHist struct {
	buckets [latencyBuckets]atomic.Int64
}

const (
	latencyBuckets = 96 // 1 ms × 1.25^95 ≈ 1.6 × 10^6 s
	latencyBase    = 1.25
)

func latencyBucket(ms int64) int {
	if ms <= 1 {
		return 0
	}
	return min(int(math.Log(float64(ms))/math.Log(latencyBase))+1, latencyBuckets-1)
}

// bucketUpper is the upper bound of bucket i in ms.
func bucketUpper(i int) float64 { return math.Pow(latencyBase, float64(i)) }

func (h *latencyHist) record(ms int64, n int) {
	h.buckets[latencyBucket(ms)].Add(int64(n))
}

// quantile returns the upper bound of the bucket holding the q-quantile (0 when empty).
func (h *latencyHist) quantile(q float64) time.Duration {
	var total int64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return time.Duration(bucketUpper(i) * float64(time.Millisecond))
		}
	}
	return time.Duration(bucketUpper(latencyBuckets-1) * float64(time.Millisecond))
}
