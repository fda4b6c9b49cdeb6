// Package prometheus decodes the Prometheus text exposition format 0.0.4:
//
//	# HELP http_requests_total The total number of HTTP requests.
//	# TYPE http_requests_total counter
//	http_requests_total{method="post",code="200"} 1027 1395066363000
//	http_requests_total{method="post",code="400"}    3 1395066363000
//	metric_without_labels 12.47
//
// Comments and blank lines are skipped. Label values may escape \\, \" and \n; values may be
// NaN, +Inf or -Inf; the timestamp (milliseconds) is optional and defaults to the record's Kafka
// timestamp. Values without escapes are sub-slices of the input; escaped ones are unescaped into
// the Rows' arena, so steady-state parsing allocates nothing.
package prometheus

import (
	"bytes"
	"math"
	"strconv"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/fastnum"
)

// Parse appends every sample in s to dst and every bad line to dst.Bad.
func Parse(dst *messages.Rows, s []byte, defaultTsMs int64) {
	kind := otherKind
	for len(s) > 0 {
		var line []byte
		line, s = messages.NextLine(s)
		parseLine(dst, line, defaultTsMs, &kind)
	}
}

// goFloatSyntax reports whether a value uses what Go 1.13 added to float syntax (hex floats'
// p exponents, digit-separating underscores), which Prometheus' parser refuses.
func goFloatSyntax(v []byte) bool {
	for _, c := range v {
		if c == 'p' || c == 'P' || c == '_' {
			return true
		}
	}
	return false
}

// metricKind is the type the latest `# TYPE` line gave: as in Prometheus' parser, it decides
// whether `le` (histogram) or `quantile` (summary) label values are floats to normalize.
type metricKind uint8

const (
	otherKind metricKind = iota
	histogramKind
	summaryKind
)

// typeLine reads `# TYPE name type` (s after the '#') into *kind, as Prometheus' lexer does: the
// name bare or quoted, then one separating character, then the type; other comments change
// nothing (`#TYPE`, without a space, is one).
func typeLine(s []byte, kind *metricKind) {
	if len(s) == 0 || !isSpace(s[0]) {
		return
	}
	s = skipSpace(s)
	if len(s) < 5 || string(s[:4]) != "TYPE" || !isSpace(s[4]) {
		return
	}
	s = skipSpace(s[4:])
	i := 0
	switch {
	case len(s) > 0 && s[0] == '"':
		for i = 1; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
			}
		}
		i++
	case len(s) > 0 && isNameStart(s[0]):
		for i < len(s) && isNameChar(s[i]) {
			i++
		}
	default:
		return
	}
	if i >= len(s) {
		return
	}
	switch string(s[i+1:]) {
	case "histogram":
		*kind = histogramKind
	case "summary":
		*kind = summaryKind
	case "counter", "gauge", "untyped":
		*kind = otherKind
	}
}

// normalizeFloat rewrites a histogram's le or a summary's quantile value as Prometheus 3 does
// (labels.FormatOpenMetricsFloat: "1" becomes "1.0", so that series from the text format and
// from OpenMetrics or protobuf scrapes match); anything that is not a float stays as written.
func normalizeFloat(dst *messages.Rows, v []byte) []byte {
	f, err := fastnum.ParseFloat64(v)
	if err != nil {
		return v
	}
	var buf [32]byte
	var out []byte
	switch {
	case f == 0: // -0 too, as Prometheus' AppendOpenMetricsFloat writes it
		out = append(buf[:0], "0.0"...)
	case math.IsNaN(f):
		out = append(buf[:0], "NaN"...)
	case math.IsInf(f, 1):
		out = append(buf[:0], "+Inf"...)
	case math.IsInf(f, -1):
		out = append(buf[:0], "-Inf"...)
	default:
		out = strconv.AppendFloat(buf[:0], f, 'g', -1, 64)
		if bytes.IndexAny(out, "e.") < 0 {
			out = append(out, '.', '0')
		}
	}
	if bytes.Equal(out, v) {
		return v
	}
	return dst.Append(out)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

func skipSpace(s []byte) []byte {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	return s
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }

func parseLine(dst *messages.Rows, line []byte, defaultTsMs int64, kind *metricKind) {
	s := skipSpace(line)
	if len(s) == 0 {
		return
	}
	if s[0] == '#' {
		typeLine(s[1:], kind)
		return
	}
	var metric []byte
	if s[0] != '{' {
		i := 0
		if !isNameStart(s[0]) {
			dst.AddBad(line, messages.ReasonUnparseable, "invalid metric name")
			return
		}
		for i < len(s) && isNameChar(s[i]) {
			i++
		}
		metric, s = s[:i], skipSpace(s[i:]) // `m {a="1"} 1` too, as Prometheus reads it
	}
	mark := dst.TagsMark()
	if len(s) > 0 && s[0] == '{' {
		var detail string
		if s, detail = parseLabels(dst, s[1:], &metric, *kind); detail != "" {
			dst.DropTagsTo(mark)
			dst.AddBad(line, messages.ReasonUnparseable, detail)
			return
		}
	}
	if metric == nil {
		dst.DropTagsTo(mark)
		dst.AddBad(line, messages.ReasonUnparseable, "no metric name")
		return
	}
	// The value may follow the name or the closing brace without a space (`m+1`, `m{}1`), as
	// Prometheus' parser allows.
	if s = skipSpace(s); len(s) == 0 {
		dst.DropTagsTo(mark)
		dst.AddBad(line, messages.ReasonUnparseable, "missing value")
		return
	}
	j := 0
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	v, err := fastnum.ParseFloat64(s[:j])
	if err != nil || goFloatSyntax(s[:j]) {
		dst.DropTagsTo(mark)
		dst.AddBad(line, messages.ReasonUnparseable, "invalid value")
		return
	}
	ts := defaultTsMs
	if s = skipSpace(s[j:]); len(s) > 0 {
		t, err := fastnum.ParseInt64(s)
		if err != nil { // trailing spaces, or more than the fast path reads: the careful way
			k := 0
			for k < len(s) && !isSpace(s[k]) {
				k++
			}
			if len(skipSpace(s[k:])) == 0 { // else err stands: more than a timestamp
				if t, err = fastnum.ParseInt64(s[:k]); err != nil {
					t, err = strconv.ParseInt(string(s[:k]), 10, 64) // leading zeros past 19 digits
				}
			}
		}
		if err != nil || s[0] < '0' || s[0] > '9' { // digits only, as Prometheus reads them
			dst.DropTagsTo(mark)
			dst.AddBad(line, messages.ReasonUnparseable, "invalid timestamp")
			return
		}
		ts = t
	}
	dp := dst.NextPoint()
	dp.Metric = metric
	dp.Tags = dst.TagsSince(mark)
	dp.Timestamp = ts
	dp.Value = v
}

// parseLabels parses `name="value",...}` (after the opening brace) and returns what follows the
// closing brace, or a non-empty detail on error. Names may be quoted (Prometheus 3's UTF-8
// names: `{"my.metric", "label.x"="v"}`): a quoted string followed by , or } is the metric name,
// which *metric receives (an error when it has one already).
func parseLabels(dst *messages.Rows, s []byte, metric *[]byte, kind metricKind) ([]byte, string) {
	for {
		s = skipSpace(s)
		if len(s) == 0 {
			return nil, "unterminated label set"
		}
		if s[0] == '}' {
			return s[1:], ""
		}
		var name []byte
		if s[0] == '"' {
			q, rest, ok := quoted(dst, s[1:])
			if !ok {
				return nil, "unterminated name"
			}
			if rest = skipSpace(rest); len(rest) > 0 && (rest[0] == ',' || rest[0] == '}') {
				if *metric != nil {
					return nil, "metric name given twice"
				}
				*metric = q // an empty name is the validation's to reject, as in Prometheus
				if rest[0] == ',' {
					rest = rest[1:]
				}
				s = rest
				continue
			}
			name, s = q, rest // an empty name is the validation's to reject, as in Prometheus
		} else {
			if !isNameStart(s[0]) {
				return nil, "invalid label name"
			}
			i := 1
			for i < len(s) && isNameChar(s[i]) {
				i++
			}
			name, s = s[:i], s[i:]
		}
		s = skipSpace(s)
		if len(s) < 2 || s[0] != '=' {
			return nil, "missing = after label name"
		}
		s = skipSpace(s[1:])
		if len(s) == 0 || s[0] != '"' {
			return nil, "label value must be quoted"
		}
		j, escaped := closingQuote(s[1:]) // inline: every label value takes this path
		if j < 0 {
			return nil, "unterminated label value"
		}
		value, rest := s[1:1+j], s[2+j:]
		if escaped {
			value, _ = unescape(dst, value)
		}
		if kind == histogramKind && string(name) == "le" || kind == summaryKind && string(name) == "quantile" {
			value = normalizeFloat(dst, value)
		}
		dst.AddLabel(name, value)
		// The comma between labels may be left out, as Prometheus' parser allows.
		if s = skipSpace(rest); len(s) > 0 && s[0] == ',' {
			s = s[1:]
		}
	}
}

// quoted reads a quoted string up to its closing quote (s starts after the opening one),
// unescaping \\, \" and \n into the rows' arena when it has escapes, and returns what follows
// the closing quote; ok is false when the string is not closed.
func quoted(dst *messages.Rows, s []byte) (value, rest []byte, ok bool) {
	j, escaped := closingQuote(s)
	if j < 0 {
		return nil, nil, false
	}
	value = s[:j]
	if escaped {
		value, _ = unescape(dst, value) // never fails: every backslash has a character after it
	}
	return value, s[j+1:], true
}

// closingQuote returns the index of the quote that closes s (s after the opening one), or -1,
// and whether the string has escapes: one pass, as values are short and most have no escape.
func closingQuote(s []byte) (int, bool) {
	escaped := false
	for j := 0; j < len(s); j++ {
		if c := s[j]; c == '"' {
			return j, escaped
		} else if c == '\\' {
			escaped = true
			j++
		}
	}
	return -1, false
}

// unescape resolves \\, \" and \n into the rows' arena; any other escape is kept as written
// (backslash and character), as Prometheus' text parser keeps it.
func unescape(dst *messages.Rows, v []byte) ([]byte, bool) {
	out := dst.Append(v)[:0] // reserve len(v) bytes; the unescaped value is never longer
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' {
			if i+1 >= len(v) {
				return nil, false
			}
			i++
			switch v[i] {
			case '\\', '"':
				c = v[i]
			case 'n':
				c = '\n'
			default: // kept as written, as Prometheus' parser keeps it
				out = append(out, '\\')
				c = v[i]
			}
		}
		out = append(out, c)
	}
	return out, true
}
