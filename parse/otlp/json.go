package otlp

// The OTLP JSON encoding (the Collector's kafkaexporter with encoding otlp_json): the protobuf
// messages in protojson form — camelCase field names, 64-bit integers as strings, enums as
// numbers or names. The document is walked by slicing it, as the protobuf is; only strings with
// escapes are copied (unescaped into the Rows' arena).

import (
	"math"
	"strconv"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/fastnum"
	"github.com/sluicehq/sluice/parse/jsonput"
)

// parseJSON decodes one ExportMetricsServiceRequest in JSON; false when it is not well-formed.
func (p *Parser) parseJSON(dst *messages.Rows, b []byte, tsMs int64) bool {
	d := indexJSON(b, dst.Scratch)
	dst.Scratch = d.ix
	return jsonObject(d, b, func(key, v []byte) bool {
		if string(key) != "resourceMetrics" {
			return true
		}
		return jsonArray(d, v, func(rm []byte) bool { return p.resourceMetricsJSON(d, dst, rm, tsMs) })
	})
}

func (p *Parser) resourceMetricsJSON(d jsonDoc, dst *messages.Rows, rm []byte, tsMs int64) bool {
	amark := dst.TagsMark()
	if !jsonObject(d, rm, func(key, res []byte) bool {
		if string(key) != "resource" {
			return true
		}
		return jsonObject(d, res, func(k2, list []byte) bool {
			if string(k2) != "attributes" {
				return true
			}
			return jsonArray(d, list, func(kv []byte) bool {
				k, v, ok := keyValueJSON(d, dst, kv)
				if ok {
					dst.AddTag(k, v)
				}
				return ok
			})
		})
	}) {
		return false
	}
	rmark := dst.TagsMark()
	p.addResourceLabels(dst, dst.TagsSince(amark))
	res := dst.TagsSince(rmark)
	return jsonObject(d, rm, func(key, sms []byte) bool {
		if string(key) != "scopeMetrics" {
			return true
		}
		return jsonArray(d, sms, func(sm []byte) bool {
			return jsonObject(d, sm, func(k, ms []byte) bool {
				if string(k) != "metrics" {
					return true
				}
				return jsonArray(d, ms, func(m []byte) bool { return p.metricJSON(d, dst, m, res, tsMs) })
			})
		})
	})
}

func (p *Parser) metricJSON(d jsonDoc, dst *messages.Rows, m []byte, res []messages.Tag, tsMs int64) bool {
	var name, help, unit, data []byte
	kind := 0
	ok := jsonObject(d, m, func(key, v []byte) bool {
		var ok bool
		switch string(key) {
		case "name":
			name, ok = jsonString(dst, v)
			return ok
		case "description":
			help, ok = jsonString(dst, v)
			return ok
		case "unit":
			unit, ok = jsonString(dst, v)
			return ok
		case "gauge":
			kind, data = kindGauge, v
		case "sum":
			kind, data = kindSum, v
		case "histogram":
			kind, data = kindHistogram, v
		case "exponentialHistogram":
			kind, data = kindExponential, v
		case "summary":
			kind, data = kindSummary, v
		}
		return true
	})
	if !ok {
		return false
	}
	if len(name) == 0 {
		dst.AddBad(m, messages.ReasonInvalidName, "metric without a name")
		return true
	}
	var monotonic, delta bool
	if kind != 0 && !jsonObject(d, data, func(key, v []byte) bool {
		switch string(key) {
		case "aggregationTemporality":
			delta = string(v) == "1" || string(v) == `"AGGREGATION_TEMPORALITY_DELTA"`
		case "isMonotonic":
			monotonic = string(v) == "true"
		}
		return true
	}) {
		return false
	}
	e := emitter{dst: dst, res: res, tsMs: tsMs, doc: d}
	points := func(fn func(dp []byte) bool) bool {
		return jsonObject(d, data, func(key, v []byte) bool {
			if string(key) != "dataPoints" {
				return true
			}
			return jsonArray(d, v, fn)
		})
	}
	switch p.plan(&e, kind, name, unit, help, delta, monotonic) {
	case asNumber:
		return points(e.numberJSON)
	case asNative:
		return points(e.exponentialJSON)
	case asHistogram:
		return points(e.histogramJSON)
	case asSummary:
		return points(e.summaryJSON)
	case asUnsupported:
		return points(e.unsupportedPoint)
	}
	return true
}

// attributesJSON adds the point's attributes to the tag pool and returns them.
func (e *emitter) attributesJSON(dp []byte) ([]messages.Tag, bool) {
	mark := e.dst.TagsMark()
	ok := jsonObject(e.doc, dp, func(key, list []byte) bool {
		if string(key) != "attributes" {
			return true
		}
		return jsonArray(e.doc, list, func(kv []byte) bool {
			k, v, ok := keyValueJSON(e.doc, e.dst, kv)
			if ok {
				e.dst.AddTag(k, v)
			}
			return ok
		})
	})
	return e.dst.TagsSince(mark), ok
}

func (e *emitter) numberJSON(dp []byte) bool {
	var ts, flags uint64
	var v float64
	ok := jsonObject(e.doc, dp, func(key, val []byte) bool {
		var ok bool
		switch string(key) {
		case "timeUnixNano":
			ts, ok = jsonUint(val)
		case "asDouble":
			v, ok = jsonFloat(val)
		case "asInt":
			var i int64
			i, ok = jsonInt(val)
			v = float64(i)
		case "flags":
			flags, ok = jsonUint(val)
		default:
			return true
		}
		return ok
	})
	if skip, ret := e.skip(dp, ok, flags); skip {
		return ret
	}
	attrs, ok := e.attributesJSON(dp)
	if ok {
		e.point(e.name, attrs, e.timestamp(ts), v, nil, nil)
	}
	return ok
}

func (e *emitter) histogramJSON(dp []byte) bool {
	var ts, count, flags uint64
	var sum float64
	var hasSum bool
	var counts, bounds []byte
	ok := jsonObject(e.doc, dp, func(key, val []byte) bool {
		var ok bool
		switch string(key) {
		case "timeUnixNano":
			ts, ok = jsonUint(val)
		case "count":
			count, ok = jsonUint(val)
		case "sum":
			sum, ok = jsonFloat(val)
			hasSum = true
		case "bucketCounts":
			counts, ok = val, len(val) > 0 && val[0] == '['
		case "explicitBounds":
			bounds, ok = val, len(val) > 0 && val[0] == '['
		case "flags":
			flags, ok = jsonUint(val)
		default:
			return true
		}
		return ok
	})
	if skip, ret := e.skip(dp, ok, flags); skip {
		return ret
	}
	nCounts, nBounds := 0, 0
	if !jsonArray(e.doc, counts, func([]byte) bool { nCounts++; return true }) || !jsonArray(e.doc, bounds, func([]byte) bool { nBounds++; return true }) {
		return false
	}
	if nCounts > 0 && nCounts != nBounds+1 {
		return e.unsupported(dp, "histogram whose bucket_counts are not one more than its explicit_bounds")
	}
	attrs, ok := e.attributesJSON(dp)
	if !ok {
		return false
	}
	t := e.timestamp(ts)
	var cum uint64
	ci, bi := jsonIter{d: e.doc, b: counts}, jsonIter{d: e.doc, b: bounds}
	for nCounts > 0 { // no bucket counts: only +Inf
		bv, more := bi.next()
		if !more {
			break
		}
		cv, _ := ci.next()
		bound, ok1 := jsonFloat(bv)
		c, ok2 := jsonUint(cv)
		if !ok1 || !ok2 {
			return false
		}
		cum += c
		e.bucketPoint(attrs, t, cum, bound)
	}
	e.histogramEnd(attrs, t, count, sum, hasSum)
	return true
}

func (e *emitter) summaryJSON(dp []byte) bool {
	var ts, count, flags uint64
	var sum float64
	var quantiles []byte
	ok := jsonObject(e.doc, dp, func(key, val []byte) bool {
		var ok bool
		switch string(key) {
		case "timeUnixNano":
			ts, ok = jsonUint(val)
		case "count":
			count, ok = jsonUint(val)
		case "sum":
			sum, ok = jsonFloat(val)
		case "quantileValues":
			quantiles, ok = val, len(val) > 0 && val[0] == '['
		case "flags":
			flags, ok = jsonUint(val)
		default:
			return true
		}
		return ok
	})
	if skip, ret := e.skip(dp, ok, flags); skip {
		return ret
	}
	attrs, ok := e.attributesJSON(dp)
	if !ok {
		return false
	}
	t := e.timestamp(ts)
	if len(quantiles) > 0 && !jsonArray(e.doc, quantiles, func(qv []byte) bool {
		var q, v float64
		if !jsonObject(e.doc, qv, func(key, val []byte) bool {
			var ok bool
			switch string(key) {
			case "quantile":
				q, ok = jsonFloat(val)
			case "value":
				v, ok = jsonFloat(val)
			default:
				return true
			}
			return ok
		}) {
			return false
		}
		e.quantilePoint(attrs, t, q, v)
		return true
	}) {
		return false
	}
	e.summaryEnd(attrs, t, sum, count)
	return true
}

// keyValueJSON decodes {"key": k, "value": {"stringValue"|"intValue"|"doubleValue"|"boolValue": v}}.
func keyValueJSON(d jsonDoc, dst *messages.Rows, kv []byte) (k, v []byte, ok bool) {
	ok = jsonObject(d, kv, func(key, val []byte) bool {
		var ok bool
		switch string(key) {
		case "key":
			k, ok = jsonString(dst, val)
			return ok
		case "value":
			return jsonObject(d, val, func(kind, x []byte) bool {
				var ok bool
				switch string(kind) {
				case "stringValue":
					v, ok = jsonString(dst, x)
					return ok
				case "boolValue":
					v = valueFalse
					if string(x) == "true" {
						v = valueTrue
					}
				case "intValue":
					var i int64
					if i, ok = jsonInt(x); !ok {
						return false
					}
					var nb [32]byte
					v = dst.Append(strconv.AppendInt(nb[:0], i, 10))
				case "doubleValue":
					var f float64
					if f, ok = jsonFloat(x); !ok {
						return false
					}
					var nb [32]byte
					v = dst.Append(strconv.AppendFloat(nb[:0], f, 'g', -1, 64))
				}
				return true
			})
		}
		return true
	})
	return k, v, ok
}

// jsonString returns a string value's contents (unescaped into dst when it has escapes).
func jsonString(dst *messages.Rows, v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c == '\\' {
			return jsonput.Unescape(dst, s)
		}
	}
	return s[:len(s):len(s)], true
}

// unquote strips the quotes protojson puts around 64-bit integers (and special floats).
func unquote(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func jsonUint(v []byte) (uint64, bool) {
	i, err := fastnum.ParseInt64(unquote(v))
	return uint64(i), err == nil && i >= 0
}

func jsonInt(v []byte) (int64, bool) {
	i, err := fastnum.ParseInt64(unquote(v))
	return i, err == nil
}

func jsonFloat(v []byte) (float64, bool) {
	switch string(v) {
	case `"NaN"`:
		return math.NaN(), true
	case `"Infinity"`:
		return math.Inf(1), true
	case `"-Infinity"`:
		return math.Inf(-1), true
	}
	f, err := fastnum.ParseFloat64(unquote(v))
	return f, err == nil
}

// jsonObject calls fn for each member of the object b with its key (not unescaped: OTLP's keys
// are plain) and its raw value; false when b is not a well-formed object or fn returns false.
func jsonObject(d jsonDoc, b []byte, fn func(key, val []byte) bool) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end, ok := valueEnd(d, b, i)
		if !ok {
			return false
		}
		key := b[i+1 : end-1]
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		end, ok = valueEnd(d, b, i)
		if !ok || !fn(key, b[i:end]) {
			return false
		}
		i = skipWS(b, end)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipWS(b, i+1)
		case i < len(b) && b[i] == '}':
			return skipWS(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// jsonArray calls fn for each element of the array b; an empty b is an empty array.
func jsonArray(d jsonDoc, b []byte, fn func(elem []byte) bool) bool {
	if len(b) == 0 {
		return true
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return skipWS(b, i+1) == len(b)
	}
	for {
		end, ok := valueEnd(d, b, i)
		if !ok || !fn(b[i:end]) {
			return false
		}
		i = skipWS(b, end)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipWS(b, i+1)
		case i < len(b) && b[i] == ']':
			return skipWS(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// jsonIter walks the elements of a (well-formed, already checked) JSON array.
type jsonIter struct {
	d       jsonDoc
	b       []byte
	i       int
	started bool
}

func (it *jsonIter) next() ([]byte, bool) {
	if !it.started {
		it.started = true
		it.i = skipWS(it.b, 0)
		if it.i >= len(it.b) || it.b[it.i] != '[' {
			return nil, false
		}
		it.i = skipWS(it.b, it.i+1)
	} else {
		it.i = skipWS(it.b, it.i)
		if it.i >= len(it.b) || it.b[it.i] != ',' {
			return nil, false
		}
		it.i = skipWS(it.b, it.i+1)
	}
	if it.i >= len(it.b) || it.b[it.i] == ']' {
		return nil, false
	}
	end, ok := valueEnd(it.d, it.b, it.i)
	if !ok {
		return nil, false
	}
	v := it.b[it.i:end]
	it.i = end
	return v, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// jsonDoc is the JSON record being decoded with its structural index: where every object and
// array opens and closes, found in one pass before decoding, so that skipping a nested value
// (every level of the document skips the values below it, some more than once) is a lookup, not a
// scan of everything inside it. The index is pointer-free and lives in the Rows' scratch space;
// a jsonDoc is passed by value (so it stays on the stack), and what changes as decoding goes on,
// the cursor, is in the index itself.
type jsonDoc struct {
	base int // cap of the record: a sub-slice b of it starts at base-cap(b)
	// ix[0] is the cursor: the pair after the last one looked up (decoding mostly moves
	// forward); then the open and close offsets of each container in the order they open, close
	// -1 when it never closes.
	ix []int32
}

// indexJSON indexes record b in scratch. The index pairs each opening bracket with the closing one
// at which the depth counted from it returns to zero, outside strings, as valueEnd's scan does,
// so a lookup gives what the scan would.
func indexJSON(b []byte, scratch []int32) jsonDoc {
	ix := append(scratch[:0], 0)
	var stack [64]int32 // open pairs' positions in ix
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth == len(stack) { // deeper than OTLP nests: not indexed, scanned
				return jsonDoc{base: cap(b), ix: ix[:1]}
			}
			stack[depth] = int32(len(ix))
			depth++
			ix = append(ix, int32(i), -1)
		case '}', ']':
			if depth > 0 {
				depth--
				ix[stack[depth]+1] = int32(i)
			}
		}
	}
	return jsonDoc{base: cap(b), ix: ix}
}

// containerEnd returns the end of the object or array opening at b[i] from the index; found is
// false when b is not part of the indexed record or the index has no such container.
func (d jsonDoc) containerEnd(b []byte, i int) (end int, ok, found bool) {
	if len(d.ix) < 3 {
		return 0, false, false
	}
	shift := d.base - cap(b) // where b starts in the record
	off := int32(shift + i)
	pairs := d.ix[1:]
	n := len(pairs) / 2
	k := int(d.ix[0])
	if k >= n || pairs[2*k] != off {
		lo, hi := 0, n
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if pairs[2*m] < off {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo == n || pairs[2*lo] != off {
			return 0, false, false
		}
		k = lo
	}
	c := int(pairs[2*k+1])
	if c < 0 {
		return 0, false, true
	}
	end = c + 1 - shift
	if end > len(b) { // b ends inside the container: not what the index describes
		return 0, false, false
	}
	d.ix[0] = int32(k + 1)
	return end, true, true
}

// valueEnd returns the end of the JSON value starting at b[i].
func valueEnd(d jsonDoc, b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, true
			}
		}
		return 0, false
	case '{', '[':
		if end, ok, found := d.containerEnd(b, i); found {
			return end, ok
		}
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := valueEnd(jsonDoc{}, b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default: // a number or a literal
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		return j, j > i
	}
}
