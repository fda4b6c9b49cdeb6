// Package jsonput decodes the body of OpenTSDB's HTTP /api/put: one datapoint object, or an array
// of them:
//
//	[{"metric":"sys.cpu.nice","timestamp":1346846400,"value":18,"tags":{"host":"web01"}}, ...]
//
// Timestamps are seconds or milliseconds (as in the telnet format); values are JSON numbers or
// strings holding a number. A hand-written scanner slices the input (strings with escapes are
// unescaped into the Rows' arena), so decoding allocates nothing in steady state; an element that
// is not a valid datapoint is reported and the next element is still decoded.
//
// parser.go is one file of ~410 lines because it is one scanner: the states of a single
// recursive-descent machine over one input, sharing its cursor and error recovery.
package jsonput

import (
	"unicode/utf8"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/fastnum"
)

// Parse appends every datapoint in s to dst and every bad element to dst.Bad. Every element
// carries its timestamp, so the record's timestamp (the signature every format's Parse shares)
// is unused.
func Parse(dst *messages.Rows, s []byte, _ int64) {
	p := scanner{dst: dst, s: s}
	p.ws()
	if p.i == len(s) {
		return
	}
	if s[p.i] != '[' {
		if !p.element() {
			return
		}
		if p.ws(); p.i < len(s) {
			dst.AddBad(s[p.i:], messages.ReasonUnparseable, "unexpected data after the JSON value")
		}
		return
	}
	p.i++
	for {
		p.ws()
		if p.i >= len(s) {
			dst.AddBad(s, messages.ReasonUnparseable, "unterminated array")
			return
		}
		if s[p.i] == ']' {
			p.i++
			if p.ws(); p.i < len(s) {
				dst.AddBad(s[p.i:], messages.ReasonUnparseable, "unexpected data after the JSON value")
			}
			return
		}
		if !p.element() {
			return // cannot find where the next element starts
		}
		p.ws()
		if p.i < len(s) && s[p.i] == ',' {
			p.i++
		} else if p.i < len(s) && s[p.i] != ']' {
			dst.AddBad(s[p.i:], messages.ReasonUnparseable, "expected , or ] in array")
			return
		}
	}
}

type scanner struct {
	dst *messages.Rows
	s   []byte
	i   int
}

func (p *scanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// element decodes one datapoint object. It reports false when the input is so broken that the
// element's end cannot be found.
func (p *scanner) element() bool {
	start := p.i
	mark := p.dst.TagsMark()
	var metric []byte
	var ts int64
	var v float64
	haveTs, haveV := false, false
	detail := ""
	fail := func(d string) {
		if detail == "" {
			detail = d
		}
	}
	if p.s[p.i] != '{' {
		// Not an object: skip whatever value it is and report it.
		if !p.skipValue() {
			p.dst.AddBad(p.s[start:], messages.ReasonUnparseable, "invalid JSON")
			return false
		}
		p.dst.AddBad(p.s[start:p.i], messages.ReasonUnparseable, "array element is not an object")
		return true
	}
	p.i++
	for first := true; ; first = false {
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			break
		}
		if !first {
			if p.i >= len(p.s) || p.s[p.i] != ',' {
				p.dst.DropTagsTo(mark)
				p.dst.AddBad(p.s[start:], messages.ReasonUnparseable, "invalid JSON object")
				return false
			}
			p.i++
			p.ws()
		}
		key, ok := p.str()
		if !ok {
			p.dst.DropTagsTo(mark)
			p.dst.AddBad(p.s[start:], messages.ReasonUnparseable, "invalid JSON object")
			return false
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			p.dst.DropTagsTo(mark)
			p.dst.AddBad(p.s[start:], messages.ReasonUnparseable, "invalid JSON object")
			return false
		}
		p.i++
		p.ws()
		if p.i >= len(p.s) {
			p.dst.DropTagsTo(mark)
			p.dst.AddBad(p.s[start:], messages.ReasonUnparseable, "invalid JSON object")
			return false
		}
		vstart := p.i
		switch string(key) {
		case "metric":
			if metric, ok = p.str(); !ok {
				fail("metric must be a string")
			}
		case "timestamp":
			if ts, ok = p.timestamp(); ok {
				haveTs = true
			} else {
				fail("invalid timestamp")
			}
		case "value":
			if v, ok = p.value(); ok {
				haveV = true
			} else {
				fail("invalid value")
			}
		case "tags":
			if ok = p.tags(); !ok {
				fail("tags must be an object of strings")
			}
		default:
			ok = p.skipValue()
		}
		if !ok {
			// Resynchronise: skip the value whatever it is.
			p.i = vstart
			if !p.skipValue() {
				p.dst.DropTagsTo(mark)
				p.dst.AddBad(p.s[start:], messages.ReasonUnparseable, "invalid JSON")
				return false
			}
		}
	}
	switch {
	case detail != "":
	case len(metric) == 0:
		detail = "missing metric"
	case !haveTs:
		detail = "missing timestamp"
	case !haveV:
		detail = "missing value"
	}
	if detail != "" {
		p.dst.DropTagsTo(mark)
		p.dst.AddBad(p.s[start:p.i], messages.ReasonUnparseable, detail)
		return true
	}
	dp := p.dst.NextPoint()
	dp.Metric = metric
	dp.Tags = p.dst.TagsSince(mark)
	dp.Timestamp = ts
	dp.Value = v
	return true
}

// str parses a JSON string at p.i; escapes are resolved into the rows' arena.
func (p *scanner) str() ([]byte, bool) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	esc := false
	for j := start; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '\\':
			esc = true
			j++
		case c == '"':
			p.i = j + 1
			if !esc {
				return p.s[start:j:j], true
			}
			return p.unescape(p.s[start:j])
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func (p *scanner) unescape(v []byte) ([]byte, bool) { return Unescape(p.dst, v) }

// Unescape decodes the escapes of JSON string contents v into dst's arena (other decoders of
// JSON documents share it). It rejects surrogate escapes: they are not names a TSDB accepts.
func Unescape(dst *messages.Rows, v []byte) ([]byte, bool) {
	out := dst.Append(v)[:0] // unescaped is never longer than escaped
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(v) {
			return nil, false
		}
		switch v[i] {
		case '"', '\\', '/':
			out = append(out, v[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(v) {
				return nil, false
			}
			var r rune
			for _, h := range v[i+1 : i+5] {
				r <<= 4
				switch {
				case h >= '0' && h <= '9':
					r |= rune(h - '0')
				case h >= 'a' && h <= 'f':
					r |= rune(h - 'a' + 10)
				case h >= 'A' && h <= 'F':
					r |= rune(h - 'A' + 10)
				default:
					return nil, false
				}
			}
			i += 4
			if r >= 0xD800 && r < 0xE000 {
				return nil, false // surrogates are not names a TSDB accepts
			}
			out = utf8.AppendRune(out, r) // at most 3 bytes for 6 escaped ones
		default:
			return nil, false
		}
	}
	return out, true
}

// number returns the bytes of a JSON number at p.i.
func (p *scanner) number() []byte {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

// numeric returns the bytes of a number written as a JSON number or as a string holding one.
func (p *scanner) numeric() ([]byte, bool) {
	if p.s[p.i] == '"' {
		return p.str()
	}
	return p.number(), true
}

func (p *scanner) value() (float64, bool) {
	b, ok := p.numeric()
	if !ok {
		return 0, false
	}
	v, err := fastnum.ParseFloat64(b)
	return v, err == nil && len(b) > 0
}

// timestamp parses seconds (up to 10 digits) or milliseconds (11 to 13), as a number or string.
func (p *scanner) timestamp() (int64, bool) {
	b, ok := p.numeric()
	if !ok || len(b) == 0 || len(b) > 13 || b[0] == '-' || b[0] == '+' {
		return 0, false
	}
	n, err := fastnum.ParseInt64(b)
	if err != nil {
		return 0, false
	}
	if len(b) <= 10 {
		n *= 1000
	}
	return n, true
}

func (p *scanner) tags() bool {
	if p.s[p.i] != '{' {
		return false
	}
	p.i++
	for first := true; ; first = false {
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return true
		}
		if !first {
			if p.i >= len(p.s) || p.s[p.i] != ',' {
				return false
			}
			p.i++
			p.ws()
		}
		k, ok := p.str()
		if !ok || len(k) == 0 {
			return false
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return false
		}
		p.i++
		p.ws()
		v, ok := p.str()
		if !ok || len(v) == 0 {
			return false
		}
		p.dst.AddTag(k, v)
	}
}

// skipValue skips any JSON value at p.i.
func (p *scanner) skipValue() bool {
	p.ws()
	if p.i >= len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '{' || c == '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		p.i++
		for first := true; ; first = false {
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == close {
				p.i++
				return true
			}
			if !first {
				if p.i >= len(p.s) || p.s[p.i] != ',' {
					return false
				}
				p.i++
			}
			if c == '{' {
				p.ws()
				if _, ok := p.str(); !ok {
					return false
				}
				p.ws()
				if p.i >= len(p.s) || p.s[p.i] != ':' {
					return false
				}
				p.i++
			}
			if !p.skipValue() {
				return false
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		return len(p.number()) > 0
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(p.s)-p.i >= len(lit) && string(p.s[p.i:p.i+len(lit)]) == lit {
				p.i += len(lit)
				return true
			}
		}
		return false
	}
}
