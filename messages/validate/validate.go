// Package validate checks decoded datapoints against the configured limits.
package validate

import (
	"bytes"
	"math"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/messages"
)

// Limits are the validation settings (config block `validation`).
type Limits struct {
	MaxMetricLength   int
	MaxTagKeyLength   int
	MaxTagValueLength int
	MaxTags           int
	MaxAge            time.Duration
	MaxFuture         time.Duration
	// AllowNonFinite keeps NaN and ±Inf values; otherwise they are dropped.
	AllowNonFinite bool
}

// Validator applies Limits. It is immutable and safe to share between workers.
type Validator struct {
	l                     Limits
	maxAgeMs, maxFutureMs int64
}

// New returns a Validator for l.
func New(l Limits) *Validator {
	return &Validator{l: l, maxAgeMs: l.MaxAge.Milliseconds(), maxFutureMs: l.MaxFuture.Milliseconds()}
}

// allowed is the OpenTSDB character set for metric names and tag keys (ASCII letters, digits,
// '-', '_', '.', '/', ':'); bytes ≥ 0x80 are allowed when the string is valid UTF-8. Tag values
// may be any valid UTF-8.
var allowed = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_./:" {
		t[c] = true
	}
	return t
}()

func validChars(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	high := false
	for _, c := range b {
		if c >= 0x80 {
			high = true
			continue
		}
		if !allowed[c] {
			return false
		}
	}
	return !high || utf8.Valid(b)
}

// validValue accepts any non-empty valid UTF-8, as Prometheus-style TSDBs do for label values
// (spaces, quotes and punctuation are common there: paths, URLs, region names).
func validValue(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 {
			return utf8.Valid(b)
		}
	}
	return true
}

// Check sorts dp's tags by key (in place, without allocating) and reports why dp must be dropped,
// if it must. nowMs is the current time in milliseconds, read once per batch. It is CheckSeries
// followed by CheckSample.
func (v *Validator) Check(dp *messages.Datapoint, nowMs int64) (messages.Reason, bool) {
	if reason, ok := v.CheckSeries(dp); !ok {
		return reason, false
	}
	return v.CheckSample(dp.Timestamp, dp.Value, nowMs)
}

// MaxTags is the most tags a valid datapoint has.
func (v *Validator) MaxTags() int { return v.l.MaxTags }

// CheckSeries checks what identifies dp's series (its name and tags) and sorts its tags by key.
// The verdict is the same for every datapoint of the series, so a caller that has seen the series
// may reuse it.
func (v *Validator) CheckSeries(dp *messages.Datapoint) (messages.Reason, bool) {
	if len(dp.Metric) > v.l.MaxMetricLength || !validChars(dp.Metric) {
		return messages.ReasonInvalidName, false
	}
	if len(dp.Tags) > v.l.MaxTags {
		return messages.ReasonTooManyTags, false
	}
	for i := range dp.Tags {
		t := &dp.Tags[i]
		if len(t.Key) > v.l.MaxTagKeyLength || len(t.Value) > v.l.MaxTagValueLength ||
			!validChars(t.Key) || !validValue(t.Value) {
			return messages.ReasonInvalidTag, false
		}
	}
	SortTags(dp.Tags)
	for i := 1; i < len(dp.Tags); i++ {
		if bytes.Equal(dp.Tags[i-1].Key, dp.Tags[i].Key) {
			return messages.ReasonDuplicateTag, false
		}
	}
	return 0, true
}

// CheckSample checks what varies from one datapoint of a series to the next: the timestamp
// window and the value.
func (v *Validator) CheckSample(ts int64, value float64, nowMs int64) (messages.Reason, bool) {
	return v.CheckSampleAllowing(ts, value, nowMs, v.l.AllowNonFinite)
}

// CheckSampleAllowing is CheckSample with an input's own non-finite policy instead of the
// validation block's (Prometheus-family inputs keep NaN and ±Inf by default).
func (v *Validator) CheckSampleAllowing(ts int64, value float64, nowMs int64, allowNonFinite bool) (messages.Reason, bool) {
	if v.maxAgeMs > 0 && ts < nowMs-v.maxAgeMs {
		return messages.ReasonTooOld, false
	}
	if ts > nowMs+v.maxFutureMs {
		return messages.ReasonTooNew, false
	}
	// Prometheus' staleness marker always passes: dropping it would leave the series in the TSDB
	// for its lookback.
	if !allowNonFinite && (math.IsNaN(value) || math.IsInf(value, 0)) && !messages.IsStaleNaN(value) {
		return messages.ReasonNonFinite, false
	}
	return 0, true
}

// AllowsNonFinite reports the validation block's policy for NaN and ±Inf.
func (v *Validator) AllowsNonFinite() bool { return v.l.AllowNonFinite }

// SortTags sorts tags by key with an insertion sort: datapoints have few tags, and sort.Slice
// would allocate.
func SortTags(tags []messages.Tag) {
	for i := 1; i < len(tags); i++ {
		for j := i; j > 0 && bytes.Compare(tags[j].Key, tags[j-1].Key) < 0; j-- {
			tags[j], tags[j-1] = tags[j-1], tags[j]
		}
	}
}
