package remotewrite

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// AppendHistogramText appends a readable form of an encoded native Histogram (as `sluice decode`
// and `sluice tail` print it), in the style of Prometheus' own: `{count:12, sum:3.5,
// [-2,-1):1, [-0.001,0.001]:5, (1,2]:4}` with integer counts; ok is false when h is malformed or
// has float counts or custom buckets, which Sluice never builds (the caller prints its size).
func AppendHistogramText(dst, h []byte) (out []byte, ok bool) {
	var count, zeroCount uint64
	var sum, zt float64
	var schema int64
	var posSpans, negSpans, posDeltas, negDeltas [][]byte
	for b := h; len(b) > 0; {
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return dst, false
		}
		b = b[tl:]
		var u uint64
		var v []byte
		n := 0
		switch typ {
		case protowire.VarintType:
			u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return dst, false
		}
		b = b[n:]
		switch num {
		case 1:
			count = u
		case 3:
			sum = math.Float64frombits(u)
		case 4:
			schema = protowire.DecodeZigZag(u)
		case 5:
			zt = math.Float64frombits(u)
		case 6:
			zeroCount = u
		case 8:
			negSpans = append(negSpans, v)
		case 9:
			negDeltas = append(negDeltas, v)
		case 11:
			posSpans = append(posSpans, v)
		case 12:
			posDeltas = append(posDeltas, v)
		case 2, 7, 10, 13, 16:
			return dst, false // float counts, custom buckets
		}
	}
	if schema < -4 || schema > 8 {
		return dst, false
	}
	base := math.Pow(2, math.Pow(2, -float64(schema)))
	dst = append(dst, "{count:"...)
	dst = strconv.AppendUint(dst, count, 10)
	dst = append(dst, ", sum:"...)
	dst = strconv.AppendFloat(dst, sum, 'g', -1, 64)
	side := func(dst []byte, spans, deltas [][]byte, negative bool) ([]byte, bool) {
		var ds []int64
		for _, d := range deltas {
			for len(d) > 0 {
				u, n := protowire.ConsumeVarint(d)
				if n < 0 {
					return dst, false
				}
				ds, d = append(ds, protowire.DecodeZigZag(u)), d[n:]
			}
		}
		type bucket struct {
			idx   int64
			count int64
		}
		var bs []bucket
		idx, cur, k := int64(0), int64(0), 0
		for _, s := range spans {
			var off, length int64
			for len(s) > 0 {
				num, _, tl := protowire.ConsumeTag(s)
				u, n := protowire.ConsumeVarint(s[max(tl, 0):])
				if tl < 0 || n < 0 {
					return dst, false
				}
				if num == 1 {
					off = protowire.DecodeZigZag(u)
				} else {
					length = int64(u)
				}
				s = s[tl+n:]
			}
			idx += off
			for j := int64(0); j < length; j++ {
				if k >= len(ds) {
					return dst, false
				}
				cur += ds[k]
				k++
				bs = append(bs, bucket{idx, cur})
				idx++
			}
		}
		if negative { // lowest first
			for i, j := 0, len(bs)-1; i < j; i, j = i+1, j-1 {
				bs[i], bs[j] = bs[j], bs[i]
			}
		}
		for _, b := range bs {
			if b.count == 0 {
				continue
			}
			lo, hi := math.Pow(base, float64(b.idx-1)), math.Pow(base, float64(b.idx))
			dst = append(dst, ", "...)
			if negative {
				dst = append(dst, '[')
				dst = strconv.AppendFloat(dst, -hi, 'g', 6, 64)
				dst = append(dst, ',')
				dst = strconv.AppendFloat(dst, -lo, 'g', 6, 64)
				dst = append(dst, ')')
			} else {
				dst = append(dst, '(')
				dst = strconv.AppendFloat(dst, lo, 'g', 6, 64)
				dst = append(dst, ',')
				dst = strconv.AppendFloat(dst, hi, 'g', 6, 64)
				dst = append(dst, ']')
			}
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, b.count, 10)
		}
		return dst, true
	}
	var okN, okP bool
	if dst, okN = side(dst, negSpans, negDeltas, true); !okN {
		return dst, false
	}
	if zeroCount > 0 {
		dst = append(dst, ", ["...)
		dst = strconv.AppendFloat(dst, -zt, 'g', -1, 64)
		dst = append(dst, ',')
		dst = strconv.AppendFloat(dst, zt, 'g', -1, 64)
		dst = append(dst, "]:"...)
		dst = strconv.AppendUint(dst, zeroCount, 10)
	}
	if dst, okP = side(dst, posSpans, posDeltas, false); !okP {
		return dst, false
	}
	return append(dst, '}'), true
}
