package shard

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/messages"
)

func key(metric string, kv ...string) []byte {
	dp := messages.Datapoint{Metric: []byte(metric)}
	for i := 0; i+1 < len(kv); i += 2 {
		dp.Tags = append(dp.Tags, messages.Tag{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return AppendSeriesKey(nil, &dp)
}

func TestSeriesKeyIsUnambiguous(t *testing.T) {
	a := key("m", "ab", "c")
	b := key("m", "a", "bc")
	c := key("m.ab", "c", "d")
	if string(a) == string(b) || string(a) == string(c) {
		t.Fatalf("distinct series share a key: %q %q %q", a, b, c)
	}
}

// TestShardIsStable pins what decides a series' shard. A change to the key layout, the hash or the
// jump function would silently move every series to another shard after an upgrade.
func TestShardIsStable(t *testing.T) {
	k := key("sys.cpu.user", "cpu", "0", "host", "web01")
	if want := "sys.cpu.user\x00cpu\x010\x00host\x01web01"; string(k) != want {
		t.Fatalf("series key %q, want %q", k, want)
	}
	// XXH64("abc", seed 0), the published test vector.
	if got := Hash([]byte("abc")); got != 0x44bc2cf5ad770999 {
		t.Fatalf("Hash(abc) = %#x, want xxhash64's 0x44bc2cf5ad770999", got)
	}
	// Vectors generated from the reference C++ implementation of jump consistent hash.
	vectors := []struct {
		key     uint64
		buckets []int
	}{
		{0, []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{1, []int{0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17}},
		{0xdeadbeef, []int{0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16}},
		{0x0ddc0ffeebadf00d, []int{0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15}},
	}
	for _, v := range vectors {
		for i, want := range v.buckets {
			if got := Jump(v.key, i+1); got != want {
				t.Fatalf("Jump(%#x, %d) = %d, want %d", v.key, i+1, got, want)
			}
		}
	}
}

func TestJumpMovesFewKeysWhenGrowing(t *testing.T) {
	moved := 0
	const n = 100000
	for i := 0; i < n; i++ {
		h := Hash([]byte(strconv.Itoa(i)))
		if Jump(h, 10) != Jump(h, 11) {
			moved++
		}
	}
	// Ideal is n/11; allow ±10 %.
	if want := n / 11; moved < want*9/10 || moved > want*11/10 {
		t.Fatalf("growing 10→11 shards moved %d of %d keys, want about %d", moved, n, want)
	}
}

func TestDistributionIsUniform(t *testing.T) {
	const shards, series = 32, 100000
	var counts [shards]int
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < series; i++ {
		k := key("app.metric."+strconv.Itoa(r.IntN(1000)), "host", "h"+strconv.Itoa(r.IntN(1<<20)), "i", strconv.Itoa(i))
		counts[Jump(Hash(k), shards)]++
	}
	mean := series / shards
	for s, c := range counts {
		if c < mean*9/10 || c > mean*11/10 {
			t.Fatalf("shard %d got %d series, want %d ±10%%: %v", s, c, mean, counts)
		}
	}
}

func TestOwnerAndRangeAgree(t *testing.T) {
	for _, tc := range [][2]int{{64, 2}, {10, 3}, {7, 7}, {5, 1}, {3, 2}} {
		shards, writers := tc[0], tc[1]
		for s := 0; s < shards; s++ {
			w := Owner(s, shards, writers)
			lo, hi := Range(w, shards, writers)
			if s < lo || s >= hi {
				t.Fatalf("shards=%d writers=%d: shard %d owned by %d whose range is [%d,%d)", shards, writers, s, w, lo, hi)
			}
		}
	}
}
