// Package graphite decodes the Graphite plaintext protocol:
//
//	<path> <value> [<timestamp>]
//	<path>;<tag1>=<v1>;<tag2>=<v2> <value> [<timestamp>]    (Graphite 1.1 tags)
//
// The timestamp is in seconds (a fraction is allowed); when it is missing or -1 the record's
// Kafka timestamp is used. Fields are separated by spaces or tabs. Parsing slices the input and
// allocates nothing in steady state.
package graphite

import (
	"bytes"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/fastnum"
)

// Parse appends every datapoint in s to dst and every bad line to dst.Bad. defaultTsMs is used
// for lines without a timestamp.
func Parse(dst *messages.Rows, s []byte, defaultTsMs int64) {
	for len(s) > 0 {
		var line []byte
		line, s = messages.NextLine(s)
		parseLine(dst, line, defaultTsMs)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// field returns the leading non-space run of s and the rest after the following spaces.
func field(s []byte) (f, rest []byte) {
	i := 0
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	f, rest = s[:i], s[i:]
	for len(rest) > 0 && isSpace(rest[0]) {
		rest = rest[1:]
	}
	return f, rest
}

// pathField is field for the path, which is long (tagged paths especially): one vectorised
// search for the space instead of a byte loop, and one for a tab, which is rare.
func pathField(s []byte) (f, rest []byte) {
	n := bytes.IndexByte(s, ' ')
	if n < 0 {
		n = len(s)
	}
	if t := bytes.IndexByte(s[:n], '\t'); t >= 0 {
		n = t
	}
	f, rest = s[:n], s[n:]
	for len(rest) > 0 && isSpace(rest[0]) {
		rest = rest[1:]
	}
	return f, rest
}

func parseLine(dst *messages.Rows, line []byte, defaultTsMs int64) {
	s := line
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	if len(s) == 0 {
		return
	}
	path, s := pathField(s)
	valField, s := field(s)
	if len(valField) == 0 {
		dst.AddBad(line, messages.ReasonUnparseable, "missing value")
		return
	}
	v, err := fastnum.ParseFloat64(valField)
	if err != nil {
		dst.AddBad(line, messages.ReasonUnparseable, "invalid value")
		return
	}
	ts := defaultTsMs
	if len(s) > 0 {
		var tsField []byte
		tsField, s = field(s)
		if len(s) > 0 {
			dst.AddBad(line, messages.ReasonUnparseable, "unexpected field after the timestamp")
			return
		}
		if !(len(tsField) == 2 && tsField[0] == '-' && tsField[1] == '1') {
			t, ok := parseSeconds(tsField)
			if !ok {
				dst.AddBad(line, messages.ReasonUnparseable, "invalid timestamp")
				return
			}
			ts = t
		}
	}
	metric := path
	mark := dst.TagsMark()
	if n := bytes.IndexByte(path, ';'); n >= 0 {
		metric = path[:n]
		if !addTags(dst, path[n+1:]) {
			dst.DropTagsTo(mark)
			dst.AddBad(line, messages.ReasonUnparseable, "invalid tag: want key=value")
			return
		}
	}
	if len(metric) == 0 {
		dst.DropTagsTo(mark)
		dst.AddBad(line, messages.ReasonUnparseable, "missing metric path")
		return
	}
	dp := dst.NextPoint()
	dp.Metric = metric
	dp.Tags = dst.TagsSince(mark)
	dp.Timestamp = ts
	dp.Value = v
}

// addTags adds the `k=v;k=v` tags of a tagged path in one pass over its bytes. It reports false on
// a tag without a key or value. One trailing ';' is allowed.
func addTags(dst *messages.Rows, tags []byte) bool {
	if len(tags) > 0 && tags[len(tags)-1] == ';' {
		tags = tags[:len(tags)-1]
	}
	if len(tags) == 0 {
		return true
	}
	start, eq := 0, -1
	for i := 0; i <= len(tags); i++ {
		if i < len(tags) && tags[i] != ';' {
			if tags[i] == '=' && eq < 0 {
				eq = i
			}
			continue
		}
		if eq <= start || eq == i-1 {
			return false
		}
		dst.AddTag(tags[start:eq], tags[eq+1:i])
		start, eq = i+1, -1
	}
	return true
}

// parseSeconds parses seconds with an optional fraction (to millisecond precision) into ms, in
// one pass over the digits.
func parseSeconds(b []byte) (int64, bool) {
	n, i, ok := fastnum.LeadingDigits(b, 1<<40)
	if !ok || i == 0 {
		return 0, false
	}
	if i == len(b) {
		return n * 1000, true
	}
	if b[i] != '.' {
		return 0, false
	}
	f, ok := fastnum.FractionMillis(b[i+1:])
	return n*1000 + f, ok
}
