// Package influx decodes InfluxDB line protocol:
//
//	measurement[,tag=value...] field=value[,field=value...] [timestamp]
//
// Commas and spaces in the measurement, and commas, equals signs and spaces in tag keys, tag
// values and field keys, may be escaped with a backslash. Field values are floats, integers (42i),
// unsigned integers (42u), booleans (t, true, F, false, ...) or quoted strings; strings are not
// numbers a TSDB can store, so each is skipped and counted under ReasonStringField. Every numeric
// field becomes one datapoint named <measurement><separator><field>, with the line's tags.
//
// Unescaped names and values are sub-slices of the input; escaped ones and joined names are
// built in the Rows' arena, so steady-state parsing allocates nothing.
package influx

import (
	"bytes"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/fastnum"
)

// Parser holds the input's settings. Its zero value is not usable: use New.
type Parser struct {
	// toMs converts a timestamp in the configured precision to milliseconds.
	div, mul  int64
	separator []byte
	bareValue bool
}

// New returns a parser. precision is "ns", "us", "ms" or "s"; separator joins measurement and
// field names; with bareValue, a field named "value" maps to the bare measurement name.
func New(precision, separator string, bareValue bool) (*Parser, bool) {
	p := &Parser{separator: []byte(separator), bareValue: bareValue, div: 1, mul: 1}
	switch precision {
	case "ns":
		p.div = 1_000_000
	case "us":
		p.div = 1_000
	case "ms":
	case "s":
		p.mul = 1000
	default:
		return nil, false
	}
	return p, true
}

// Parse appends every numeric field of every line in s to dst, and bad lines and string fields
// to dst.Bad.
func (p *Parser) Parse(dst *messages.Rows, s []byte, defaultTsMs int64) {
	for len(s) > 0 {
		var line []byte
		line, s = messages.NextLine(s)
		p.parseLine(dst, line, defaultTsMs)
	}
}

// scan returns the index of the first unescaped byte of s in stop (a small set), or len(s), and
// whether a backslash escape was seen before it.
func scan(s []byte, stop1, stop2, stop3 byte) (int, bool) {
	esc := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			esc = true
			i++
			continue
		}
		if c == stop1 || c == stop2 || c == stop3 {
			return i, esc
		}
	}
	return len(s), esc
}

// scanL is scan for a line that may have escapes, and a plain loop (a third of the checks) for
// the common line that has none.
func scanL(plain bool, s []byte, stop1, stop2, stop3 byte) (int, bool) {
	if !plain {
		return scan(s, stop1, stop2, stop3)
	}
	for i, c := range s {
		if c == stop1 || c == stop2 || c == stop3 {
			return i, false
		}
	}
	return len(s), false
}

// unescape drops the backslash of every escape sequence, into the rows' arena.
func unescape(dst *messages.Rows, v []byte) []byte {
	out := dst.Append(v)[:0]
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		out = append(out, v[i])
	}
	return out
}

func (p *Parser) parseLine(dst *messages.Rows, line []byte, defaultTsMs int64) {
	s := line
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	if len(s) == 0 || s[0] == '#' {
		return
	}
	plain := bytes.IndexByte(s, '\\') < 0 // one vectorised look for escapes per line
	// Measurement.
	n, esc := scanL(plain, s, ',', ' ', ' ')
	measurement := s[:n]
	if esc {
		measurement = unescape(dst, measurement)
	}
	if len(measurement) == 0 {
		dst.AddBad(line, messages.ReasonUnparseable, "missing measurement")
		return
	}
	s = s[n:]
	mark := dst.TagsMark()
	fail := func(detail string) {
		dst.DropTagsTo(mark)
		dst.AddBad(line, messages.ReasonUnparseable, detail)
	}
	// Tags.
	for len(s) > 0 && s[0] == ',' {
		s = s[1:]
		n, esc := scanL(plain, s, '=', ',', ' ')
		if n == 0 || n == len(s) || s[n] != '=' {
			fail("invalid tag: want key=value")
			return
		}
		key := s[:n]
		if esc {
			key = unescape(dst, key)
		}
		s = s[n+1:]
		n, esc = scanL(plain, s, ',', ' ', '=')
		if n == 0 || (n < len(s) && s[n] == '=') {
			fail("invalid tag: want key=value")
			return
		}
		value := s[:n]
		if esc {
			value = unescape(dst, value)
		}
		dst.AddTag(key, value)
		s = s[n:]
	}
	if len(s) == 0 || s[0] != ' ' {
		fail("missing fields")
		return
	}
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	tags := dst.TagsSince(mark)
	// Fields, in one pass: a datapoint per numeric field; the timestamp, which comes last, is
	// filled in afterwards. A bad field rejects the whole line: what it added is rolled back.
	points, bad := len(dst.Points), len(dst.Bad)
	rollback := func(detail string) {
		clear(dst.Points[points:])
		dst.Points = dst.Points[:points]
		dst.Bad = dst.Bad[:bad]
		fail(detail)
	}
	for {
		n, esc := scanL(plain, s, '=', ',', ' ')
		if n == 0 || n == len(s) || s[n] != '=' {
			rollback("invalid field: want key=value")
			return
		}
		key := s[:n]
		s = s[n+1:]
		end, ok := valueEnd(s)
		if !ok {
			rollback("invalid field value")
			return
		}
		raw := s[:end]
		s = s[end:]
		if raw[0] == '"' {
			dst.AddBad(raw, messages.ReasonStringField, "string field skipped")
		} else {
			v, ok := parseValue(raw)
			if !ok {
				rollback("invalid field value")
				return
			}
			if esc {
				key = unescape(dst, key)
			}
			dp := dst.NextPoint()
			if p.bareValue && string(key) == "value" {
				dp.Metric = measurement
			} else {
				dp.Metric = dst.Append(measurement, p.separator, key)
			}
			dp.Tags = tags
			dp.Value = v
		}
		if len(s) == 0 || s[0] == ' ' {
			break
		}
		s = s[1:] // ','
	}
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	ts := defaultTsMs
	if len(s) > 0 {
		t, err := fastnum.ParseInt64(s)
		if err != nil {
			rollback("invalid timestamp")
			return
		}
		ts = t / p.div * p.mul
	}
	for i := points; i < len(dst.Points); i++ {
		dst.Points[i].Timestamp = ts
	}
}

// valueEnd returns the length of the field value at the start of s: a quoted string (with \"
// and \\ escapes) or everything up to the next ',' or ' '.
func valueEnd(s []byte) (int, bool) {
	if len(s) == 0 {
		return 0, false
	}
	if s[0] == '"' {
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return i + 1, true
			}
		}
		return 0, false
	}
	i := 0
	for i < len(s) && s[i] != ',' && s[i] != ' ' {
		i++
	}
	return i, i > 0
}

// parseValue parses a numeric or boolean field value.
func parseValue(b []byte) (float64, bool) {
	switch last := b[len(b)-1]; last {
	case 'i', 'u':
		n, err := fastnum.ParseInt64(b[:len(b)-1])
		if err != nil || (last == 'u' && n < 0) {
			return 0, false
		}
		return float64(n), true
	}
	switch string(b) { // no allocation: the compiler compares in place
	case "t", "T", "true", "True", "TRUE":
		return 1, true
	case "f", "F", "false", "False", "FALSE":
		return 0, true
	}
	v, err := fastnum.ParseFloat64(b)
	return v, err == nil
}
