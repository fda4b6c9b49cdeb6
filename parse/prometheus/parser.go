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
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/fastnum"
)

// Parse appends every sample in s to dst and every bad line to dst.Bad.
func Parse(dst *messages.Rows, s []byte, defaultTsMs int64) {
	for len(s) > 0 {
		var line []byte
		line, s = messages.NextLine(s)
		parseLine(dst, line, defaultTsMs)
	}
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

func parseLine(dst *messages.Rows, line []byte, defaultTsMs int64) {
	s := skipSpace(line)
	if len(s) == 0 || s[0] == '#' {
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
		metric, s = s[:i], s[i:]
	}
	mark := dst.TagsMark()
	if len(s) > 0 && s[0] == '{' {
		var detail string
		if s, detail = parseLabels(dst, s[1:], &metric); detail != "" {
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
	if len(s) == 0 || !isSpace(s[0]) {
		dst.DropTagsTo(mark)
		dst.AddBad(line, messages.ReasonUnparseable, "missing value")
		return
	}
	s = skipSpace(s)
	j := 0
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	v, err := fastnum.ParseFloat64(s[:j])
	if err != nil {
		dst.DropTagsTo(mark)
		dst.AddBad(line, messages.ReasonUnparseable, "invalid value")
		return
	}
	ts := defaultTsMs
	if s = skipSpace(s[j:]); len(s) > 0 {
		t, err := fastnum.ParseInt64(s)
		if err != nil {
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
func parseLabels(dst *messages.Rows, s []byte, metric *[]byte) ([]byte, string) {
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
			q, rest, detail := quoted(dst, s[1:], "name")
			if detail != "" {
				return nil, detail
			}
			if rest = skipSpace(rest); len(rest) > 0 && (rest[0] == ',' || rest[0] == '}') {
				if *metric != nil {
					return nil, "metric name given twice"
				}
				if len(q) == 0 {
					return nil, "invalid metric name"
				}
				*metric = q
				if rest[0] == ',' {
					rest = rest[1:]
				}
				s = rest
				continue
			}
			if len(q) == 0 {
				return nil, "invalid label name"
			}
			name, s = q, rest
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
		value, rest, detail := quoted(dst, s[1:], "label value")
		if detail != "" {
			return nil, detail
		}
		dst.AddLabel(name, value)
		s = skipSpace(rest)
		if len(s) > 0 && s[0] == ',' {
			s = s[1:]
		} else if len(s) == 0 || s[0] != '}' {
			return nil, "expected , or } after label value"
		}
	}
}

// quoted reads a quoted string up to its closing quote (s starts after the opening one),
// unescaping \\, \" and \n into the rows' arena when it has escapes, and returns what follows
// the closing quote, or a detail on error (what names the string in it).
func quoted(dst *messages.Rows, s []byte, what string) (value, rest []byte, detail string) {
	escaped := false
	j := 0
	for ; j < len(s); j++ {
		if s[j] == '\\' {
			escaped = true
			j++
			continue
		}
		if s[j] == '"' {
			break
		}
	}
	if j >= len(s) {
		return nil, nil, "unterminated " + what
	}
	value = s[:j]
	if escaped {
		var ok bool
		if value, ok = unescape(dst, value); !ok {
			return nil, nil, "invalid escape in " + what
		}
	}
	return value, s[j+1:], ""
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
