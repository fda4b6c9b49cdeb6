package validate

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/messages"
)

var limits = Limits{MaxMetricLength: 20, MaxTagKeyLength: 8, MaxTagValueLength: 8, MaxTags: 3,
	MaxAge: time.Hour, MaxFuture: 10 * time.Minute}

const now = int64(1_700_000_000_000)

func point(metric string, ts int64, v float64, kv ...string) messages.Datapoint {
	dp := messages.Datapoint{Metric: []byte(metric), Timestamp: ts, Value: v}
	for i := 0; i+1 < len(kv); i += 2 {
		dp.Tags = append(dp.Tags, messages.Tag{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return dp
}

func TestCheck(t *testing.T) {
	v := New(limits)
	f := func(dp messages.Datapoint, want messages.Reason, wantOK bool) {
		t.Helper()
		got, ok := v.Check(&dp, now)
		if ok != wantOK || (!ok && got != want) {
			t.Fatalf("%s: got (%v, %v), want (%v, %v)", dp.Metric, got, ok, want, wantOK)
		}
	}
	f(point("sys.cpu.user", now, 1, "host", "a"), 0, true)
	f(point("a/b:c-d_e", now, 1), 0, true)
	f(point("métrique", now, 1), 0, true) // valid UTF-8 letters
	f(point("bad\xff", now, 1), messages.ReasonInvalidName, false)
	f(point("has space", now, 1), messages.ReasonInvalidName, false)
	f(point("", now, 1), messages.ReasonInvalidName, false)
	f(point(strings.Repeat("m", 21), now, 1), messages.ReasonInvalidName, false)
	f(point(strings.Repeat("m", 20), now, 1), 0, true)
	f(point("m", now, 1, "a", "1", "b", "2", "c", "3", "d", "4"), messages.ReasonTooManyTags, false)
	f(point("m", now, 1, "a", "1", "b", "2", "c", "3"), 0, true)
	f(point("m", now, 1, "toolongkey", "1"), messages.ReasonInvalidTag, false)
	f(point("m", now, 1, "k", "toolongval"), messages.ReasonInvalidTag, false)
	f(point("m", now, 1, "k", "a \"b\"/c"), 0, true) // values: any valid UTF-8
	f(point("m", now, 1, "k", "a\xffb"), messages.ReasonInvalidTag, false)
	f(point("m", now, 1, "k", ""), messages.ReasonInvalidTag, false)
	f(point("m", now, 1, "k\"", "v"), messages.ReasonInvalidTag, false) // keys: the strict set
	f(point("m", now, 1, "a key", "v"), messages.ReasonInvalidTag, false)
	f(point("m", now, 1, "k", "1", "j", "2", "k", "3"), messages.ReasonDuplicateTag, false)
	f(point("m", now-time.Hour.Milliseconds()-1, 1), messages.ReasonTooOld, false)
	f(point("m", now-time.Hour.Milliseconds(), 1), 0, true)
	f(point("m", now+10*time.Minute.Milliseconds()+1, 1), messages.ReasonTooNew, false)
	f(point("m", now, math.NaN()), messages.ReasonNonFinite, false)
	f(point("m", now, math.Inf(1)), messages.ReasonNonFinite, false)

	lenient := limits
	lenient.AllowNonFinite = true
	if _, ok := New(lenient).Check(&messages.Datapoint{Metric: []byte("m"), Timestamp: now, Value: math.NaN()}, now); !ok {
		t.Fatal("NaN dropped although allow_non_finite is set")
	}
}

func TestCheckSortsTags(t *testing.T) {
	dp := point("m", now, 1, "z", "1", "a", "2", "m", "3")
	if _, ok := New(limits).Check(&dp, now); !ok {
		t.Fatal("valid point rejected")
	}
	var keys []string
	for _, tg := range dp.Tags {
		keys = append(keys, string(tg.Key))
	}
	if strings.Join(keys, ",") != "a,m,z" {
		t.Fatalf("tags not sorted: %v", keys)
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	v := New(limits)
	dp := point("sys.cpu.user", now, 1, "z", "1", "a", "2")
	if n := testing.AllocsPerRun(100, func() { v.Check(&dp, now) }); n != 0 {
		t.Fatalf("Check allocates %.1f times", n)
	}
}

// TestStalenessMarkerAlwaysPasses: NaN and ±Inf follow the policy given; Prometheus' staleness
// marker (one NaN bit pattern) passes whatever the policy, and is not any other NaN.
func TestStalenessMarkerAlwaysPasses(t *testing.T) {
	v := New(Limits{MaxMetricLength: 10, MaxTagKeyLength: 10, MaxTagValueLength: 10, MaxTags: 2})
	stale := math.Float64frombits(messages.StaleNaN)
	for _, c := range []struct {
		value float64
		allow bool
		ok    bool
	}{
		{math.NaN(), false, false}, {math.Inf(1), false, false}, {math.Inf(-1), false, false}, {stale, false, true},
		{math.NaN(), true, true}, {math.Inf(1), true, true}, {stale, true, true}, {1.5, false, true},
	} {
		if _, ok := v.CheckSampleAllowing(0, c.value, 0, c.allow); ok != c.ok {
			t.Errorf("value %x allow %v: ok %v, want %v", math.Float64bits(c.value), c.allow, ok, c.ok)
		}
	}
	if _, ok := v.CheckSample(0, stale, 0); !ok {
		t.Error("CheckSample drops the staleness marker with the default policy")
	}
	if messages.IsStaleNaN(math.NaN()) || !messages.IsStaleNaN(stale) {
		t.Error("IsStaleNaN confuses the marker with Go's NaN")
	}
}
