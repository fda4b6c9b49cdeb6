package remotewrite

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/proto/prompb"
)

// merged builds requests from segs and decodes them: per request, series name → timestamps.
func merged(t *testing.T, maxSamples, maxBytes int, segs ...[]byte) (reqs []map[string][]int64, counts []int) {
	t.Helper()
	var m Merger
	for _, s := range segs {
		if !m.Add(s) {
			t.Fatal("Add refused a valid segment")
		}
	}
	m.Build(maxSamples, maxBytes, func(req []byte, samples int) {
		var wr prompb.WriteRequest
		if err := proto.Unmarshal(req, &wr); err != nil {
			t.Fatalf("request does not decode: %v", err)
		}
		got := map[string][]int64{}
		n := 0
		for _, ts := range wr.Timeseries {
			key := ""
			for _, l := range ts.Labels {
				key += l.Name + "=" + l.Value + ","
			}
			if _, dup := got[key]; dup {
				t.Errorf("series %s twice in one request", key)
			}
			for _, s := range ts.Samples {
				got[key] = append(got[key], s.Timestamp)
				if s.Value != float64(s.Timestamp)*2 {
					t.Errorf("sample at %d has value %g, want %g", s.Timestamp, s.Value, float64(s.Timestamp)*2)
				}
			}
			n += len(ts.Samples)
		}
		if n != samples {
			t.Errorf("emit says %d samples, the request holds %d", samples, n)
		}
		if len(req) > maxBytes && len(wr.Timeseries) > 1 {
			t.Errorf("request of %d bytes over max %d", len(req), maxBytes)
		}
		reqs, counts = append(reqs, got), append(counts, samples)
	})
	return reqs, counts
}

func ser(metric string, ts ...int64) series {
	s := series{metric: metric, tags: []string{"host", "a"}}
	for _, t := range ts {
		s.samples = append(s.samples, [2]float64{float64(t) * 2, float64(t)})
	}
	return s
}

func TestMergerOrdersEachSeriesOnce(t *testing.T) {
	// Two batches, each sorted, with the same series going back in time across them.
	b1 := encode([]series{ser("cpu", 10, 20), ser("mem", 7)})
	b2 := encode([]series{ser("cpu", 5, 15, 25), ser("disk", 1)})
	b3 := encode([]series{ser("mem", 3)})
	reqs, counts := merged(t, 1000, 1<<20, b1, b2, b3)
	if len(reqs) != 1 || counts[0] != 8 {
		t.Fatalf("%d requests, counts %v; want 1 with 8 samples", len(reqs), counts)
	}
	r := reqs[0]
	want := map[string][]int64{
		"__name__=cpu,host=a,":  {5, 10, 15, 20, 25},
		"__name__=mem,host=a,":  {3, 7},
		"__name__=disk,host=a,": {1},
	}
	for k, ts := range want {
		if !slices.Equal(r[k], ts) {
			t.Errorf("%s: timestamps %v, want %v", k, r[k], ts)
		}
	}
	if len(r) != len(want) {
		t.Errorf("series %v, want %v", r, want)
	}
}

func TestMergerSplitsRequests(t *testing.T) {
	var segs [][]byte
	for i := 0; i < 10; i++ {
		segs = append(segs, encode([]series{ser(fmt.Sprint("m", i%3), int64(100-i), int64(200-i))}))
	}
	reqs, counts := merged(t, 3, 1<<20, segs...)
	total := 0
	last := map[string]int64{}
	for i, r := range reqs {
		if counts[i] > 3 {
			t.Errorf("request %d holds %d samples, max 3", i, counts[i])
		}
		total += counts[i]
		for k, ts := range r {
			if !slices.IsSorted(ts) || ts[0] <= last[k] {
				t.Errorf("request %d: %s goes back in time: %v after %d", i, k, ts, last[k])
			}
			last[k] = ts[len(ts)-1]
		}
	}
	if total != 20 || len(reqs) != 7 {
		t.Fatalf("%d samples in %d requests; want 20 in 7", total, len(reqs))
	}
	// A byte limit smaller than two series: one series per request, none lost.
	one := len(encode([]series{ser("m0", 100)}))
	reqs, counts = merged(t, 1000, one+one/2, segs...)
	total = 0
	for _, c := range counts {
		total += c
	}
	if total != 20 || len(reqs) < 10 {
		t.Fatalf("%d samples in %d requests; want 20 in at least 10", total, len(reqs))
	}
}

func TestMergerRejectsGarbage(t *testing.T) {
	var m Merger
	if m.Add([]byte{0x0a, 0x05, 0x01}) || m.Add([]byte{0x12, 0x00}) || m.Series() != 0 {
		t.Fatal("Add took a malformed segment")
	}
}

func TestMergerAllocations(t *testing.T) {
	seg := encode([]series{ser("cpu", 10, 20), ser("mem", 7), ser("cpu", 5)})
	var m Merger
	emit := func([]byte, int) {}
	run := func() {
		m.Add(seg)
		m.Add(seg)
		m.Build(1000, 1<<20, emit)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocations per build; want 0", n)
	}
}

// TestMergerHashCollision: two distinct series whose label hashes collide (forced here, as
// xxhash64 collisions cannot be found by hand) are still merged apart, each in time order.
func TestMergerHashCollision(t *testing.T) {
	var m Merger
	for _, seg := range [][]byte{encode([]series{ser("cpu", 20), ser("mem", 9)}), encode([]series{ser("mem", 3), ser("cpu", 10)})} {
		if !m.Add(seg) {
			t.Fatal("Add refused a valid segment")
		}
	}
	for i := range m.series {
		m.series[i].hash = 42
	}
	got := map[string][]int64{}
	m.Build(1000, 1<<20, func(req []byte, _ int) {
		var wr prompb.WriteRequest
		if err := proto.Unmarshal(req, &wr); err != nil {
			t.Fatal(err)
		}
		for _, ts := range wr.Timeseries {
			for _, s := range ts.Samples {
				got[ts.Labels[0].Value] = append(got[ts.Labels[0].Value], s.Timestamp)
			}
		}
	})
	if want := map[string][]int64{"cpu": {10, 20}, "mem": {3, 9}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("merged %v, want %v", got, want)
	}
}
