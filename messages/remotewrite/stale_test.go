package remotewrite

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/messages"
)

// TestStalenessMarkerBitForBit: Prometheus' staleness marker and other NaNs keep their bits
// through encoding, the writer's merge, transcoding to remote write 2.0, and decoding both.
func TestStalenessMarkerBitForBit(t *testing.T) {
	stale := math.Float64frombits(messages.StaleNaN)
	other := math.Float64frombits(0x7ff8000000000042)
	seg := encode([]series{{metric: "up", tags: []string{"job", "a"}, samples: [][2]float64{{1, 1000}, {stale, 2000}, {other, 3000}}}})
	var m Merger
	if !m.Add(seg) {
		t.Fatal("Add refused the segment")
	}
	var req []byte
	m.Build(100, 1<<20, func(r []byte, _ int) { req = append([]byte(nil), r...) })
	var e V2Encoder
	v2, ok := e.Transcode(nil, req)
	if !ok {
		t.Fatal("transcode failed")
	}
	for name, rec := range map[string][]byte{"1.0": req, "2.0": v2} {
		var rows messages.Rows
		Parse(&rows, rec, 0)
		if len(rows.Points) != 3 {
			t.Fatalf("%s: %d points", name, len(rows.Points))
		}
		for i, want := range []uint64{math.Float64bits(1), messages.StaleNaN, 0x7ff8000000000042} {
			if got := math.Float64bits(rows.Points[i].Value); got != want {
				t.Errorf("%s: sample %d has bits %#x, want %#x", name, i, got, want)
			}
		}
	}
}
