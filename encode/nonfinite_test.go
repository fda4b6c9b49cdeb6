package encode

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
)

// pointsDecoder decodes every record into the given values of series m{host=hN} (N the value's
// index), ignoring the record's bytes.
func pointsDecoder(ts int64, values ...float64) DecodeFunc {
	return func(dst *messages.Rows, _ []byte, _ int64) {
		for i, v := range values {
			mark := dst.TagsMark()
			dst.AddTag([]byte("host"), []byte(fmt.Sprint("h", i)))
			dp := dst.NextPoint()
			dp.Metric, dp.Tags, dp.Timestamp, dp.Value = []byte("m"), dst.TagsSince(mark), ts, v
		}
	}
}

// TestBatchEncoderNonFinitePerInput: an input's own policy for NaN and ±Inf wins over the
// validation block's; the staleness marker passes either way, bit for bit.
func TestBatchEncoderNonFinitePerInput(t *testing.T) {
	now := time.Now()
	stale := math.Float64frombits(messages.StaleNaN)
	keep, drop := true, false
	for _, c := range []struct {
		policy *bool
		kept   int
	}{{nil, 2}, {&drop, 2}, {&keep, 5}} {
		e := testEncoder(t) // its validation drops non-finite values
		e.decode = pointsDecoder(now.UnixMilli(), 1, math.NaN(), math.Inf(1), math.Inf(-1), stale)
		e.NonFinite(c.policy)
		got := decodeSeries(t, e, oneRecord(t, "x"), now.UnixMilli())
		if len(got) != c.kept || e.drops[messages.ReasonNonFinite] != int64(5-c.kept) {
			t.Fatalf("policy %v: %d series kept (want %d), %d non_finite drops", c.policy, len(got), c.kept, e.drops[messages.ReasonNonFinite])
		}
		for k, vs := range got {
			if strings.Contains(k, `"h4"`) && math.Float64bits(vs[0]) != messages.StaleNaN {
				t.Fatalf("policy %v: the staleness marker arrived as %x", c.policy, math.Float64bits(vs[0]))
			}
		}
	}
}

// TestBatchEncoderStalenessMarkerPassesLimits: a budget that drops a series' samples and
// shedding that sheds them both let its staleness marker through.
func TestBatchEncoderStalenessMarkerPassesLimits(t *testing.T) {
	now := time.Now()
	stale := math.Float64frombits(messages.StaleNaN)
	e := encoderWith(t, false, 0.000001) // shedding keeps almost nothing
	e.Limit(testLimits(t, &config.Budget{Name: "tiny", MaxSeries: 1}), e.shed, e.classes)
	e.decode = pointsDecoder(now.UnixMilli(), 1, 2, 3)
	decodeSeries(t, e, oneRecord(t, "x"), now.UnixMilli())
	e.decode = pointsDecoder(now.UnixMilli()+1, stale, stale, stale)
	got := decodeSeries(t, e, oneRecord(t, "x"), now.UnixMilli())
	if len(got) != 3 {
		t.Fatalf("%d staleness markers passed, want 3: %v", len(got), got)
	}
}
