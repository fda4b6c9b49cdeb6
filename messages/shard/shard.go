// Package shard assigns series to TSDB shards: the series key is the metric name followed by the
// tags sorted by key, hashed with xxhash64, and mapped to a shard with jump consistent hashing
// (Lamping & Veach), so that changing the shard count moves as few series as possible.
package shard

import (
	"github.com/cespare/xxhash/v2"

	"github.com/sluicehq/sluice/messages"
)

// AppendSeriesKey appends dp's series key to dst: name, then for each tag (already sorted by key)
// 0x00 key 0x01 value. The separators cannot occur in valid names, but a tag value may hold them,
// so this key places series and does not identify them (workers identify series by a
// length-prefixed key).
func AppendSeriesKey(dst []byte, dp *messages.Datapoint) []byte {
	dst = append(dst, dp.Metric...)
	for _, t := range dp.Tags {
		dst = append(dst, 0)
		dst = append(dst, t.Key...)
		dst = append(dst, 1)
		dst = append(dst, t.Value...)
	}
	return dst
}

// Hash returns the xxhash64 of a series key.
func Hash(key []byte) uint64 { return xxhash.Sum64(key) }

// Jump maps key to a bucket in [0, buckets).
func Jump(key uint64, buckets int) int {
	var b, j int64 = -1, 0
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// Owner returns the writer that owns shard when shards are split into writers contiguous ranges.
func Owner(shard, shards, writers int) int { return shard * writers / shards }

// Range returns the shards [lo, hi) that writer owns.
func Range(writer, shards, writers int) (lo, hi int) {
	lo = (writer*shards + writers - 1) / writers
	hi = ((writer+1)*shards + writers - 1) / writers
	return lo, hi
}
