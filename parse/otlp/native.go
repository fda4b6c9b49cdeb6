package otlp

// Exponential histograms as Prometheus native histograms, as the OpenTelemetry specification's
// Prometheus compatibility section and the Collector's Prometheus remote-write translator map
// them: the scale is the schema (a scale above 8 is brought down to 8 by merging neighbouring
// buckets; below -4 has no native form), OTLP bucket i, (base^i, base^(i+1)], is Prometheus
// bucket i+1, the zero bucket and threshold as they are. The Histogram message (remote write's,
// the same in 1.0 and 2.0) is built in the Rows' arena, without its timestamp, which the
// datapoint carries; it holds one span per side with every bucket's delta in it.

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/messages"
)

// Prometheus' native histogram schemas.
const (
	maxSchema = 8
	minSchema = -4
)

// Fields of remote write's Histogram and BucketSpan.
const (
	histCountInt      = 1
	histSum           = 3
	histSchema        = 4
	histZeroThreshold = 5
	histZeroCountInt  = 6
	histNegSpans      = 8
	histNegDeltas     = 9
	histPosSpans      = 11
	histPosDeltas     = 12
	spanOffset        = 1
	spanLength        = 2
)

// countIter yields the bucket counts of one side of an exponential histogram, from either
// encoding: a protobuf Buckets message's field 2 (packed or not), or a JSON array of numbers
// (or numeric strings). It is a value: a copy restarts nowhere but where the original was.
type countIter struct {
	json   bool
	msg    []byte // protobuf: what is left of the Buckets message
	packed []byte // protobuf: what is left of the packed field being read
	arr    jsonIter
	bad    bool // the counts were malformed
}

func (it *countIter) next() (uint64, bool) {
	if it.json {
		v, ok := it.arr.next()
		if !ok {
			return 0, false
		}
		c, ok := jsonUint(v)
		if !ok {
			it.bad = true
		}
		return c, ok
	}
	for {
		if len(it.packed) > 0 {
			c, n := protowire.ConsumeVarint(it.packed)
			if n < 0 {
				it.bad = true
				return 0, false
			}
			it.packed = it.packed[n:]
			return c, true
		}
		if len(it.msg) == 0 {
			return 0, false
		}
		num, typ, tl := protowire.ConsumeTag(it.msg)
		if tl < 0 {
			it.bad = true
			return 0, false
		}
		it.msg = it.msg[tl:]
		switch {
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(it.msg)
			if n < 0 {
				it.bad = true
				return 0, false
			}
			it.packed, it.msg = v, it.msg[n:]
		case num == 2 && typ == protowire.VarintType:
			c, n := protowire.ConsumeVarint(it.msg)
			if n < 0 {
				it.bad = true
				return 0, false
			}
			it.msg = it.msg[n:]
			return c, true
		default:
			n := protowire.ConsumeFieldValue(num, typ, it.msg)
			if n < 0 {
				it.bad = true
				return 0, false
			}
			it.msg = it.msg[n:]
		}
	}
}

// side is one side (positive or negative) of an exponential histogram.
type side struct {
	offset int32
	counts countIter
}

// protoSide reads a protobuf Buckets message: its offset (field 1, sint32) and its counts.
func protoSide(b []byte) (side, bool) {
	s := side{counts: countIter{msg: b}}
	ok := walk(b, func(num protowire.Number, typ protowire.Type, _ []byte, u uint64) bool {
		if num == 1 {
			s.offset = int32(protowire.DecodeZigZag(u & math.MaxUint32))
			return typ == protowire.VarintType
		}
		return true
	})
	return s, ok
}

// expHist is an exponential histogram data point, from either encoding.
type expHist struct {
	count, zeroCount uint64
	sum              float64
	hasSum           bool
	scale            int32
	zeroThreshold    float64
	pos, neg         side
}

// spanOf is one side's buckets as Prometheus has them at schema: the first bucket's index, how
// many buckets, and the size of their packed deltas.
type spanOf struct {
	first       int32
	n           int
	deltaBytes  int
	shift       uint
	sideOffset  int32
	hasBuckets  bool
	countsStart countIter
}

// measure walks a side once (on a copy of its iterator) to size it; false on malformed counts.
func measure(s side, shift uint) (spanOf, bool) {
	sp := spanOf{shift: shift, sideOffset: s.offset, countsStart: s.counts}
	it := s.counts
	var prev int64
	eachBucket(&it, s.offset, shift, func(idx int32, c uint64) {
		if !sp.hasBuckets {
			sp.first, sp.hasBuckets = idx, true
		}
		sp.n++
		sp.deltaBytes += protowire.SizeVarint(protowire.EncodeZigZag(int64(c) - prev))
		prev = int64(c)
	})
	return sp, !it.bad
}

// eachBucket calls fn with every Prometheus bucket (index, count) of a side: OTLP bucket
// offset+k goes to Prometheus bucket ((offset+k) >> shift) + 1, neighbours merged.
func eachBucket(it *countIter, offset int32, shift uint, fn func(idx int32, c uint64)) {
	var cur int32
	var acc uint64
	have := false
	for k := int32(0); ; k++ {
		c, ok := it.next()
		if !ok {
			break
		}
		idx := (offset+k)>>shift + 1
		if have && idx != cur {
			fn(cur, acc)
			acc = 0
		}
		cur, have = idx, true
		acc += c
	}
	if have {
		fn(cur, acc)
	}
}

func (sp *spanOf) size(spanField, deltaField int) int {
	if !sp.hasBuckets {
		return 0
	}
	span := 1 + protowire.SizeVarint(protowire.EncodeZigZag(int64(sp.first))) + 1 + protowire.SizeVarint(uint64(sp.n))
	return protowire.SizeTag(protowire.Number(spanField)) + protowire.SizeBytes(span) +
		protowire.SizeTag(protowire.Number(deltaField)) + protowire.SizeBytes(sp.deltaBytes)
}

func (sp *spanOf) append(dst []byte, spanField, deltaField protowire.Number) []byte {
	if !sp.hasBuckets {
		return dst
	}
	span := 1 + protowire.SizeVarint(protowire.EncodeZigZag(int64(sp.first))) + 1 + protowire.SizeVarint(uint64(sp.n))
	dst = protowire.AppendTag(dst, spanField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(span))
	dst = protowire.AppendTag(dst, spanOffset, protowire.VarintType)
	dst = protowire.AppendVarint(dst, protowire.EncodeZigZag(int64(sp.first)))
	dst = protowire.AppendTag(dst, spanLength, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(sp.n))
	dst = protowire.AppendTag(dst, deltaField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(sp.deltaBytes))
	it := sp.countsStart
	var prev int64
	eachBucket(&it, sp.sideOffset, sp.shift, func(_ int32, c uint64) {
		dst = protowire.AppendVarint(dst, protowire.EncodeZigZag(int64(c)-prev))
		prev = int64(c)
	})
	return dst
}

// nativeHistogram builds h's Histogram message in dst's arena; detail says why h has no native
// form when it is not "" (ok false: malformed counts).
func nativeHistogram(dst *messages.Rows, h *expHist) (hist []byte, detail string, ok bool) {
	if h.scale < minSchema {
		return nil, "exponential histogram with a scale below -4: no native histogram schema holds it", true
	}
	schema, shift := h.scale, uint(0)
	if schema > maxSchema {
		schema, shift = maxSchema, uint(h.scale-maxSchema)
	}
	pos, ok1 := measure(h.pos, shift)
	neg, ok2 := measure(h.neg, shift)
	if !ok1 || !ok2 {
		return nil, "", false
	}
	n := 1 + protowire.SizeVarint(h.count) + 1 + protowire.SizeVarint(protowire.EncodeZigZag(int64(schema))) +
		1 + 8 + 1 + protowire.SizeVarint(h.zeroCount) + pos.size(histPosSpans, histPosDeltas) + neg.size(histNegSpans, histNegDeltas)
	if h.hasSum {
		n += 1 + 8
	}
	b := dst.Reserve(n)
	b = protowire.AppendTag(b, histCountInt, protowire.VarintType)
	b = protowire.AppendVarint(b, h.count)
	if h.hasSum {
		b = protowire.AppendTag(b, histSum, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(h.sum))
	}
	b = protowire.AppendTag(b, histSchema, protowire.VarintType)
	b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(schema)))
	b = protowire.AppendTag(b, histZeroThreshold, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(h.zeroThreshold))
	b = protowire.AppendTag(b, histZeroCountInt, protowire.VarintType)
	b = protowire.AppendVarint(b, h.zeroCount)
	b = neg.append(b, histNegSpans, histNegDeltas)
	b = pos.append(b, histPosSpans, histPosDeltas)
	return b, "", true
}

// native adds the native histogram datapoint of h, or counts why it has none.
func (e *emitter) native(dp []byte, h *expHist, attrs []messages.Tag, t int64) bool {
	if e.stale { // no recorded value: the series' staleness marker, a float sample as Prometheus keeps it
		e.point(e.name, attrs, t, 0, nil, nil)
		return true
	}
	hist, detail, ok := nativeHistogram(e.dst, h)
	switch {
	case !ok:
		return false
	case detail != "":
		return e.unsupported(dp, detail)
	}
	x := e.meta
	x.Histogram = hist
	mark := e.addLabels(attrs)
	p := e.dst.NextPoint()
	p.Metric, p.Tags, p.Timestamp, p.Extra = e.name, e.dst.TagsSince(mark), t, e.dst.AddExtra(x)
	return true
}

// exponential adds an ExponentialHistogramDataPoint (protobuf) as a native histogram.
func (e *emitter) exponential(dp []byte) bool {
	var h expHist
	var ts, flags uint64
	ok := walk(dp, func(num protowire.Number, typ protowire.Type, v []byte, u uint64) bool {
		var ok bool
		switch num {
		case 3:
			ts, ok = u, typ == protowire.Fixed64Type
		case 4:
			h.count, ok = u, typ == protowire.Fixed64Type
		case 5:
			h.sum, h.hasSum, ok = math.Float64frombits(u), true, typ == protowire.Fixed64Type
		case 6:
			h.scale, ok = int32(protowire.DecodeZigZag(u&math.MaxUint32)), typ == protowire.VarintType
		case 7:
			h.zeroCount, ok = u, typ == protowire.Fixed64Type
		case 8:
			if typ != protowire.BytesType {
				return false
			}
			h.pos, ok = protoSide(v)
		case 9:
			if typ != protowire.BytesType {
				return false
			}
			h.neg, ok = protoSide(v)
		case 10:
			flags, ok = u, typ == protowire.VarintType
		case 14:
			h.zeroThreshold, ok = math.Float64frombits(u), typ == protowire.Fixed64Type
		default:
			return true
		}
		return ok
	})
	if skip, ret := e.skip(dp, ok, flags); skip {
		return ret
	}
	attrs, ok := e.attributes(dp, 1)
	return ok && e.native(dp, &h, attrs, e.timestamp(ts))
}

// exponentialJSON adds an ExponentialHistogramDataPoint (JSON) as a native histogram.
func (e *emitter) exponentialJSON(dp []byte) bool {
	var h expHist
	var ts, flags uint64
	h.pos.counts.json, h.neg.counts.json = true, true
	sideJSON := func(s *side, v []byte) bool {
		return jsonObject(e.doc, v, func(key, val []byte) bool {
			switch string(key) {
			case "offset":
				o, ok := jsonInt(val)
				s.offset = int32(o)
				return ok && o >= math.MinInt32 && o <= math.MaxInt32
			case "bucketCounts":
				s.counts.arr = jsonIter{d: e.doc, b: val}
				return len(val) > 0 && val[0] == '[' && jsonArray(e.doc, val, func([]byte) bool { return true })
			}
			return true
		})
	}
	ok := jsonObject(e.doc, dp, func(key, val []byte) bool {
		var ok bool
		switch string(key) {
		case "timeUnixNano":
			ts, ok = jsonUint(val)
		case "count":
			h.count, ok = jsonUint(val)
		case "sum":
			h.sum, ok = jsonFloat(val)
			h.hasSum = true
		case "scale":
			var s int64
			s, ok = jsonInt(val)
			h.scale = int32(s)
			ok = ok && s >= math.MinInt32 && s <= math.MaxInt32
		case "zeroCount":
			h.zeroCount, ok = jsonUint(val)
		case "zeroThreshold":
			h.zeroThreshold, ok = jsonFloat(val)
		case "positive":
			ok = sideJSON(&h.pos, val)
		case "negative":
			ok = sideJSON(&h.neg, val)
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
	return ok && e.native(dp, &h, attrs, e.timestamp(ts))
}
