package messages

import "bytes"

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
	rs.tagsPool = rs.tagsPool[:0]
	rs.buf = rs.buf[:0]
}

// Clear is Reset that also drops every reference to earlier inputs.
func (rs *Rows) Clear() {
	clear(rs.Points[:cap(rs.Points)])
	clear(rs.Bad[:cap(rs.Bad)])
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
