package messages

import (
	"bytes"
	"math"
)

// Tag is one key=value pair of a datapoint. Both fields are sub-slices of the decoded input.
type Tag struct {
	Key   []byte
	Value []byte
}

// Datapoint is one decoded sample. Metric and Tags point into the record being decoded; the
// datapoint is only valid until the Rows it lives in is Reset or the input buffer is reused.
type Datapoint struct {
	Metric []byte
	Tags   []Tag
	// Timestamp in milliseconds since the Unix epoch.
	Timestamp int64
	Value     float64
	// Extra, when not 0, is 1 + the index in Rows.Extras of what the datapoint carries beyond a
	// float sample (a native histogram, its metric's metadata); Rows.ExtraOf reads it.
	Extra uint32
}

// StaleNaN is the bit pattern of Prometheus' staleness marker, the NaN an agent sends for a series
// that disappeared: carried bit for bit, never dropped as non-finite.
const StaleNaN uint64 = 0x7ff0000000000002

// IsStaleNaN reports whether v is the staleness marker.
func IsStaleNaN(v float64) bool { return math.Float64bits(v) == StaleNaN }

// MetricType is a metric's type as remote write 2.0's metadata names it (its enum values).
type MetricType uint8

const (
	TypeUnknown MetricType = iota
	TypeCounter
	TypeGauge
	TypeHistogram
	TypeGaugeHistogram
	TypeSummary
	TypeInfo
	TypeStateset
)

// PointExtra is what a datapoint may carry beyond a float sample. Its slices point into the
// record or the Rows' arena, like the datapoint's.
type PointExtra struct {
	// Histogram, when not nil, makes the datapoint a native histogram sample: an encoded
	// Prometheus Histogram message (remote write's, the same in 1.0 and 2.0) without its
	// timestamp field, which the datapoint's Timestamp gives. Value is then unused.
	Histogram []byte
	// The metric's metadata, when the input has it (TypeUnknown and empty when not).
	Type       MetricType
	Unit, Help []byte
}

// HasMetadata reports whether x says anything about its metric.
func (x *PointExtra) HasMetadata() bool {
	return x.Type != TypeUnknown || len(x.Unit) > 0 || len(x.Help) > 0
}

// BadLine is an input line a decoder could not parse.
type BadLine struct {
	Line   []byte
	Reason Reason
	// Detail is a static description (never built per line, so recording it allocates nothing).
	Detail string
}

// Rows is reusable storage for decoded datapoints, in the style of VictoriaMetrics' parsers: all
// Tags of all rows are capped sub-slices of one pool, so steady-state decoding allocates nothing.
type Rows struct {
	Points []Datapoint
	Bad    []BadLine
	// Extras are the datapoints' PointExtras (Datapoint.Extra); several datapoints may share one.
	Extras []PointExtra
	// Scratch is a decoder's pointer-free working space within one Decode call (the OTLP JSON
	// decoder's structural index); kept across records so that it stops growing.
	Scratch []int32

	tagsPool []Tag
	// buf holds bytes a decoder had to build (unescaped values, joined names). When it grows,
	// slices into its old storage stay valid, so earlier rows are never invalidated; after the
	// first few records it stops growing and nothing is allocated.
	buf []byte
}

// Append copies parts, concatenated, into the rows' byte arena and returns them.
func (rs *Rows) Append(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := rs.Reserve(n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Reserve takes n bytes of the rows' byte arena and returns them as an empty slice with capacity
// n, for the caller to append to.
func (rs *Rows) Reserve(n int) []byte {
	if len(rs.buf)+n > cap(rs.buf) {
		// A new array: the old one stays alive for the rows that point into it.
		rs.buf = make([]byte, 0, max(2*cap(rs.buf), n, 4096))
	}
	start := len(rs.buf)
	rs.buf = rs.buf[:start+n]
	return rs.buf[start : start : start+n]
}

// Reset forgets the rows while keeping their storage. It does not clear the storage: every slot is
// overwritten before it is read again (NextPoint zeroes a point, AddTag sets both fields,
// AddBad writes a whole BadLine), and clearing ~200 KB of points and tags per thousand lines
// cost more than the parsing of a short line. The stale slots keep earlier inputs reachable
// until they are overwritten; in Sluice those inputs are pooled batch arenas that live as long
// as the process anyway. A caller that must let an input be collected calls Clear.
func (rs *Rows) Reset() {
	rs.Points = rs.Points[:0]
	rs.Bad = rs.Bad[:0]
	rs.Extras = rs.Extras[:0]
	rs.tagsPool = rs.tagsPool[:0]
	rs.buf = rs.buf[:0]
}

// Clear is Reset that also drops every reference to earlier inputs.
func (rs *Rows) Clear() {
	clear(rs.Points[:cap(rs.Points)])
	clear(rs.Bad[:cap(rs.Bad)])
	clear(rs.Extras[:cap(rs.Extras)])
	clear(rs.tagsPool[:cap(rs.tagsPool)])
	rs.Reset()
}

// NextPoint returns a zeroed datapoint appended to rs.Points.
func (rs *Rows) NextPoint() *Datapoint {
	if len(rs.Points) < cap(rs.Points) {
		rs.Points = rs.Points[:len(rs.Points)+1]
	} else {
		rs.Points = append(rs.Points, Datapoint{})
	}
	dp := &rs.Points[len(rs.Points)-1]
	*dp = Datapoint{}
	return dp
}

// AddExtra appends x to rs.Extras and returns the value a Datapoint.Extra refers to it with.
func (rs *Rows) AddExtra(x PointExtra) uint32 {
	rs.Extras = append(rs.Extras, x)
	return uint32(len(rs.Extras))
}

// ExtraOf returns what dp carries beyond a float sample, or nil.
func (rs *Rows) ExtraOf(dp *Datapoint) *PointExtra {
	if dp.Extra == 0 || int(dp.Extra) > len(rs.Extras) {
		return nil
	}
	return &rs.Extras[dp.Extra-1]
}

// TagsMark returns the current end of the tag pool, to pass to TagsSince or DropTagsTo.
func (rs *Rows) TagsMark() int { return len(rs.tagsPool) }

// DropTagsTo forgets the tags added since mark (used when a line turns out bad).
func (rs *Rows) DropTagsTo(mark int) {
	clear(rs.tagsPool[mark:])
	rs.tagsPool = rs.tagsPool[:mark]
}

// AddTag appends a tag to the pool.
func (rs *Rows) AddTag(k, v []byte) {
	if len(rs.tagsPool) < cap(rs.tagsPool) {
		rs.tagsPool = rs.tagsPool[:len(rs.tagsPool)+1]
	} else {
		rs.tagsPool = append(rs.tagsPool, Tag{})
	}
	t := &rs.tagsPool[len(rs.tagsPool)-1]
	t.Key, t.Value = k, v
}

// AddLabel adds a Prometheus label: in Prometheus' data model a label with an empty value is no
// label at all, so such a label is skipped (`a{x=""}` and `a` are one series). The decoders of
// the Prometheus family (text, remote write, OTLP) add their labels with it.
func (rs *Rows) AddLabel(k, v []byte) {
	if len(v) > 0 {
		rs.AddTag(k, v)
	}
}

// TagsSince returns the tags added since mark as a capped sub-slice of the pool, so that appending
// to one row's tags can never overwrite the next row's.
func (rs *Rows) TagsSince(mark int) []Tag {
	if mark == len(rs.tagsPool) {
		return nil
	}
	return rs.tagsPool[mark:len(rs.tagsPool):len(rs.tagsPool)]
}

// AddBad records an unparseable line.
func (rs *Rows) AddBad(line []byte, reason Reason, detail string) {
	rs.Bad = append(rs.Bad, BadLine{Line: line, Reason: reason, Detail: detail})
}

// NextLine cuts the first line off s (without its LF or CRLF) for line-based decoders.
func NextLine(s []byte) (line, rest []byte) {
	if n := bytes.IndexByte(s, '\n'); n >= 0 {
		line, rest = s[:n], s[n+1:]
	} else {
		line, rest = s, nil
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest
}
