// Package opentsdb decodes OpenTSDB telnet-style lines:
//
//	put <metric> <timestamp> <value> <tagk1=tagv1> [<tagk2=tagv2> ...]
//
// The leading "put" is optional. A record may hold many lines separated by LF or CRLF; fields may
// be separated by several spaces. Timestamps are seconds (up to 10 digits, an optional fraction
// of up to 3 digits) or milliseconds (11 to 13 digits) and are returned in milliseconds.
//
// Parsing slices the input: every metric, tag key and tag value is a sub-slice of the record, and
// Rows' storage is reused, so steady-state parsing allocates nothing.
package opentsdb

import (
	"bytes"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/fastnum"
)

// Parse appends every datapoint in s to dst, and every line it cannot parse to dst.Bad. A bad
// line never stops the rest of s from being parsed. Every line carries its timestamp, so the
// record's timestamp (the signature every format's Parse shares) is unused.
func Parse(dst *messages.Rows, s []byte, _ int64) {
	for len(s) > 0 {
		var line []byte
		line, s = messages.NextLine(s)
		parseLine(dst, line)
	}
}

func parseLine(dst *messages.Rows, line []byte) {
	s := trimSpaces(line)
	if len(s) == 0 {
		return
	}
	if len(s) > 4 && s[0] == 'p' && s[1] == 'u' && s[2] == 't' && s[3] == ' ' {
		s = trimSpaces(s[4:])
	}
	metric, s := nextField(s)
	if len(metric) == 0 {
		dst.AddBad(line, messages.ReasonUnparseable, "missing metric")
		return
	}
	tsField, s := nextField(s)
	if len(tsField) == 0 {
		dst.AddBad(line, messages.ReasonUnparseable, "missing timestamp")
		return
	}
	ts, ok := parseTimestamp(tsField)
	if !ok {
		dst.AddBad(line, messages.ReasonUnparseable, "invalid timestamp")
		return
	}
	valField, s := nextField(s)
	if len(valField) == 0 {
		dst.AddBad(line, messages.ReasonUnparseable, "missing value")
		return
	}
	v, err := fastnum.ParseFloat64(valField)
	if err != nil {
		dst.AddBad(line, messages.ReasonUnparseable, "invalid value")
		return
	}
	mark := dst.TagsMark()
	for len(s) > 0 {
		var tag []byte
		tag, s = nextField(s)
		n := bytes.IndexByte(tag, '=')
		if n <= 0 || n == len(tag)-1 {
			dst.DropTagsTo(mark)
			dst.AddBad(line, messages.ReasonUnparseable, "invalid tag: want key=value")
			return
		}
		dst.AddTag(tag[:n], tag[n+1:])
	}
	dp := dst.NextPoint()
	dp.Metric = metric
	dp.Tags = dst.TagsSince(mark)
	dp.Timestamp = ts
	dp.Value = v
}

// nextField returns the field at the start of s (which has no leading spaces) and the rest of s
// with leading spaces removed.
func nextField(s []byte) (field, rest []byte) {
	n := bytes.IndexByte(s, ' ')
	if n < 0 {
		return s, nil
	}
	return s[:n], trimLeft(s[n+1:])
}

func trimLeft(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

func trimSpaces(s []byte) []byte {
	s = trimLeft(s)
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseTimestamp returns milliseconds. Up to 10 integer digits are seconds (with an optional
// fraction of at most 3 digits); 11 to 13 digits are milliseconds.
func parseTimestamp(b []byte) (int64, bool) {
	n, i, ok := fastnum.LeadingDigits(b, 9_999_999_999_999)
	if !ok || i == 0 || i > 13 {
		return 0, false
	}
	if i == len(b) {
		if i > 10 {
			return n, true
		}
		return n * 1000, true
	}
	frac := b[i+1:]
	if b[i] != '.' || i > 10 || len(frac) > 3 {
		return 0, false
	}
	f, ok := fastnum.FractionMillis(frac)
	return n*1000 + f, ok
}
