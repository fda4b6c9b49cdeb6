package messages

// Reason says why a datapoint or line was dropped. Drops are counted per reason in fixed arrays,
// never in maps, so counting costs nothing on the hot path.
type Reason uint8

const (
	ReasonUnparseable Reason = iota
	ReasonInvalidName
	ReasonInvalidTag
	ReasonTooManyTags
	ReasonDuplicateTag
	ReasonTooOld
	ReasonTooNew
	ReasonNonFinite
	ReasonDenylisted
	ReasonRecordTooLarge
	ReasonStringField
	ReasonLineTooLong
	ReasonPoison
	ReasonOutputRejected
	ReasonUnrouted
	// ReasonUnsupported: a datapoint of a kind Sluice does not map (OTLP delta sums and
	// histograms, exponential histograms without remote write 2.0, points with no value).
	ReasonUnsupported
	// ReasonCardinality: a new series over a cardinality budget (limits).
	ReasonCardinality
	// ReasonShed: shed under overload, by its route's priority (shedding).
	ReasonShed
	// ReasonRelabel: dropped by an input's relabel rules (keep, drop, keepequal, dropequal).
	ReasonRelabel
	// ReasonLate: a datapoint for an aggregation window already closed (aggregate's lateness).
	ReasonLate
	// ReasonMaxSeries: a datapoint of an output series beyond its aggregate's max_series.
	ReasonMaxSeries
	NumReasons
)

var reasonNames = [NumReasons]string{
	ReasonUnparseable:    "unparseable",
	ReasonInvalidName:    "invalid_name",
	ReasonInvalidTag:     "invalid_tag",
	ReasonTooManyTags:    "too_many_tags",
	ReasonDuplicateTag:   "duplicate_tag",
	ReasonTooOld:         "too_old",
	ReasonTooNew:         "too_new",
	ReasonNonFinite:      "non_finite",
	ReasonDenylisted:     "denylisted",
	ReasonRecordTooLarge: "record_too_large",
	ReasonStringField:    "string_field",
	ReasonLineTooLong:    "line_too_long",
	ReasonPoison:         "poison",
	ReasonOutputRejected: "output_rejected",
	ReasonUnrouted:       "unrouted",
	ReasonUnsupported:    "unsupported",
	ReasonCardinality:    "cardinality",
	ReasonShed:           "shed",
	ReasonRelabel:        "relabel",
	ReasonLate:           "late",
	ReasonMaxSeries:      "max_series",
}

// String returns the reason's label as used in logs and metrics.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Skipped reports whether r is not a drop but a value skipped by design: an influx string
// field, which no TSDB stores as a sample. Such values are counted apart (sluice_skipped_total,
// "skipped" in the summary), so a clean input shows no drops.
func (r Reason) Skipped() bool { return r == ReasonStringField }

// DropCounts counts drops (and skipped values) per reason.
type DropCounts [NumReasons]int64

// Total is the number of datapoints dropped: the sum over every reason but the skipped ones.
func (d *DropCounts) Total() int64 {
	var n int64
	for r, v := range d {
		if !Reason(r).Skipped() {
			n += v
		}
	}
	return n
}

// Skipped is the number of values skipped by design (Reason.Skipped).
func (d *DropCounts) Skipped() int64 {
	var n int64
	for r, v := range d {
		if Reason(r).Skipped() {
			n += v
		}
	}
	return n
}
