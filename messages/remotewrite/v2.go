package remotewrite

// Prometheus remote write 2.0: io.prometheus.write.v2.Request. Sluice encodes series as 1.0
// TimeSeries all the way to the writer (the segments, the merge); a 2.0 output transcodes each
// finished 1.0 WriteRequest into a 2.0 Request, whose labels are references into one symbols
// table per request. A 2.0 Sample has the 1.0 Sample's field numbers and types (value 1 double,
// timestamp 2 int64), so samples are copied as they are.

import (
	"math"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/messages"
)

// Remote write 2.0's content type and protocol version; HeaderVersion is the Kafka record header
// that names the protocol of a Sluice shard record (absent on 1.0 records).
const (
	ContentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
	VersionV2     = "2.0.0"
	HeaderVersion = "sluice-remote-write-version"
)

// V2Encoder transcodes 1.0 WriteRequests into 2.0 Requests. Its buffers are reused and hold no
// pointers (symbols are offsets into one byte arena, found through an open-addressed table whose
// slots a request's generation number empties at once), so steady-state transcoding allocates
// nothing. It is not safe for concurrent use.
type V2Encoder struct {
	slots  []symSlot  // power-of-two table of the request's symbols, at most half full
	gen    uint32     // the request's generation: a slot of another is empty
	arena  []byte     // the symbols' bytes
	ends   []uint32   // symbol i is arena[ends[i-1]:ends[i]]
	pairs  []pairSlot // power-of-two table of the request's labels (name and value together), at most half full
	npairs int
	labels []byte // the labels' encoded bytes, which pairs' slots point into
	packed []byte // one series' label refs, packed
	meta   []byte // its 2.0 Metadata message
	series []byte // the request's TimeSeries, encoded
}

// pairSlot is one slot of the labels table: an encoded 1.0 Label (labels[start:end]) and the
// refs of its name and value, so that a label seen before in the request costs one hash and one
// comparison, not two of each.
type pairSlot struct {
	hash        uint64
	gen         uint32
	start, end  uint32
	name, value uint32
}

// label returns the refs of the encoded 1.0 Label f; ok is false when f is malformed.
func (e *V2Encoder) label(f []byte) (name, value uint32, ok bool) {
	if 2*(e.npairs+1) > len(e.pairs) {
		e.growPairs()
	}
	h := xxhash.Sum64(f)
	mask := uint64(len(e.pairs) - 1)
	i := h & mask
	for ; ; i = (i + 1) & mask {
		s := &e.pairs[i]
		if s.gen != e.gen {
			break
		}
		if s.hash == h && string(e.labels[s.start:s.end]) == string(f) {
			return s.name, s.value, true
		}
	}
	var n, v []byte
	if !walk(f, func(k protowire.Number, _ protowire.Type, b []byte) bool {
		switch k {
		case 1:
			n = b
		case 2:
			v = b
		}
		return true
	}) {
		return 0, 0, false
	}
	name, value = e.symbol(n), e.symbol(v)
	start := uint32(len(e.labels))
	e.labels = append(e.labels, f...)
	e.pairs[i] = pairSlot{hash: h, gen: e.gen, start: start, end: uint32(len(e.labels)), name: name, value: value}
	e.npairs++
	return name, value, true
}

// growPairs doubles the labels table, placing the request's labels again.
func (e *V2Encoder) growPairs() { e.pairs = regrow(e.pairs, e.gen) }

// symSlot is one slot of the symbols table.
type symSlot struct {
	hash uint64
	gen  uint32
	sym  uint32
}

func (e *V2Encoder) symbol(b []byte) uint32 {
	if 2*(len(e.ends)+1) > len(e.slots) {
		e.grow()
	}
	h := xxhash.Sum64(b)
	mask := uint64(len(e.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &e.slots[i]
		if s.gen != e.gen {
			e.arena = append(e.arena, b...)
			e.ends = append(e.ends, uint32(len(e.arena)))
			*s = symSlot{hash: h, gen: e.gen, sym: uint32(len(e.ends) - 1)}
			return s.sym
		}
		if s.hash == h && string(e.sym(s.sym)) == string(b) {
			return s.sym
		}
	}
}

// grow doubles the symbols table, placing the request's symbols again.
func (e *V2Encoder) grow() { e.slots = regrow(e.slots, e.gen) }

// tableSlot is a slot of the encoder's open-addressed tables.
type tableSlot interface {
	symSlot | pairSlot
	slot() (hash uint64, gen uint32)
}

func (s symSlot) slot() (uint64, uint32)  { return s.hash, s.gen }
func (s pairSlot) slot() (uint64, uint32) { return s.hash, s.gen }

// regrow returns a table twice as large (256 slots at least) holding old's slots of generation gen.
func regrow[S tableSlot](old []S, gen uint32) []S {
	slots := make([]S, max(256, 2*len(old)))
	mask := uint64(len(slots) - 1)
	for _, s := range old {
		h, g := s.slot()
		if g != gen {
			continue
		}
		i := h & mask
		for {
			if _, g := slots[i].slot(); g != gen {
				break
			}
			i = (i + 1) & mask
		}
		slots[i] = s
	}
	return slots
}

func (e *V2Encoder) sym(i uint32) []byte {
	start := uint32(0)
	if i > 0 {
		start = e.ends[i-1]
	}
	return e.arena[start:e.ends[i]]
}

// Transcode appends to dst the 2.0 Request holding the series of the 1.0 WriteRequest req; ok is
// false when req is malformed.
func (e *V2Encoder) Transcode(dst, req []byte) (out []byte, ok bool) {
	e.gen++
	if e.gen == 0 { // wrapped: every slot may look current
		clear(e.slots)
		clear(e.pairs)
		e.gen = 1
	}
	e.arena, e.ends, e.series = e.arena[:0], e.ends[:0], e.series[:0]
	e.labels, e.npairs = e.labels[:0], 0
	e.symbol(nil) // symbols[0] is the empty string
	ok = walk(req, func(num protowire.Number, typ protowire.Type, ts []byte) bool {
		if num != 1 {
			return true
		}
		return typ == protowire.BytesType && e.timeSeries(ts)
	})
	if !ok {
		return dst, false
	}
	for i := range e.ends {
		dst = protowire.AppendTag(dst, 4, protowire.BytesType)
		dst = protowire.AppendBytes(dst, e.sym(uint32(i)))
	}
	return append(dst, e.series...), true
}

// timeSeries transcodes one 1.0 TimeSeries in one pass over its fields: its labels become refs,
// its metadata (the segment's own field 15) a 2.0 Metadata, and its samples (2) and histograms
// (1.0's 4, 2.0's 3) are appended after. A 2.0 TimeSeries must not hold both samples and
// histograms, so a series with both becomes two.
func (e *V2Encoder) timeSeries(ts []byte) bool {
	e.packed, e.meta = e.packed[:0], e.meta[:0]
	samples, hists := 0, 0
	// The samples as one run of ts, when they are contiguous and canonically encoded (as
	// workers and the merger write them): copied as they are, field 2 in both protocols.
	runStart, runEnd, run := -1, -1, true
	for off := 0; off < len(ts); {
		num, typ, tl := protowire.ConsumeTag(ts[off:])
		if tl < 0 {
			return false
		}
		var f []byte
		var n int
		if typ == protowire.BytesType {
			f, n = protowire.ConsumeBytes(ts[off+tl:])
		} else {
			n = protowire.ConsumeFieldValue(num, typ, ts[off+tl:])
		}
		if n < 0 {
			return false
		}
		switch num {
		case 1:
			if typ != protowire.BytesType {
				return false
			}
			name, value, ok := e.label(f)
			if !ok {
				return false
			}
			e.packed = protowire.AppendVarint(e.packed, uint64(name))
			e.packed = protowire.AppendVarint(e.packed, uint64(value))
		case 15:
			e.meta = e.appendMetadata(e.meta[:0], f)
		case 2:
			size := protowire.SizeTag(2) + protowire.SizeBytes(len(f))
			samples += size
			if size != tl+n || (runStart >= 0 && runEnd != off) {
				run = false
			}
			if runStart < 0 {
				runStart = off
			}
			runEnd = off + tl + n
		case 4:
			hists += protowire.SizeTag(3) + protowire.SizeBytes(len(f))
		}
		off += tl + n
	}
	if samples > 0 {
		if run {
			e.appendSeries(ts[runStart:runEnd], 0, 0, samples)
		} else {
			e.appendSeries(ts, 2, 2, samples)
		}
	}
	if hists > 0 {
		e.appendSeries(ts, 4, 3, hists)
	}
	return true
}

// appendSeries appends a 2.0 TimeSeries of the series being transcoded (its packed refs and
// metadata are in e): the fields from of the 1.0 series ts, size bytes once renumbered to; with
// from 0, ts is those fields already, copied whole.
func (e *V2Encoder) appendSeries(ts []byte, from, to protowire.Number, size int) {
	body := protowire.SizeTag(1) + protowire.SizeBytes(len(e.packed)) + size
	if len(e.meta) > 0 {
		body += protowire.SizeTag(5) + protowire.SizeBytes(len(e.meta))
	}
	e.series = protowire.AppendTag(e.series, 5, protowire.BytesType)
	e.series = protowire.AppendVarint(e.series, uint64(body))
	e.series = protowire.AppendTag(e.series, 1, protowire.BytesType)
	e.series = protowire.AppendBytes(e.series, e.packed)
	if from == 0 {
		e.series = append(e.series, ts...)
	} else {
		walk(ts, func(n protowire.Number, _ protowire.Type, f []byte) bool {
			if n == from {
				e.series = protowire.AppendTag(e.series, to, protowire.BytesType)
				e.series = protowire.AppendBytes(e.series, f)
			}
			return true
		})
	}
	if len(e.meta) > 0 {
		e.series = protowire.AppendTag(e.series, 5, protowire.BytesType)
		e.series = protowire.AppendBytes(e.series, e.meta)
	}
}

// appendMetadata appends the 2.0 Metadata message for a segment's metadata field m: the type as
// it is, help and unit as references into the symbols.
func (e *V2Encoder) appendMetadata(dst, m []byte) []byte {
	for len(m) > 0 {
		n, typ, tl := protowire.ConsumeTag(m)
		if tl < 0 {
			return dst
		}
		m = m[tl:]
		switch {
		case n == metaType && typ == protowire.VarintType:
			v, k := protowire.ConsumeVarint(m)
			if k < 0 {
				return dst
			}
			m = m[k:]
			if v != 0 {
				dst = protowire.AppendTag(dst, 1, protowire.VarintType)
				dst = protowire.AppendVarint(dst, v)
			}
		case (n == metaHelp || n == metaUnit) && typ == protowire.BytesType:
			f, k := protowire.ConsumeBytes(m)
			if k < 0 {
				return dst
			}
			m = m[k:]
			if len(f) > 0 {
				dst = protowire.AppendTag(dst, 3+protowire.Number(n-metaHelp), protowire.VarintType) // help_ref 3, unit_ref 4
				dst = protowire.AppendVarint(dst, uint64(e.symbol(f)))
			}
		default:
			k := protowire.ConsumeFieldValue(n, typ, m)
			if k < 0 {
				return dst
			}
			m = m[k:]
		}
	}
	return dst
}

// IsV2 reports whether a decoded request is a 2.0 Request: it has symbols (field 4) or 2.0
// series (field 5), which a 1.0 WriteRequest never has.
func IsV2(b []byte) bool {
	v2 := false
	walk(b, func(num protowire.Number, _ protowire.Type, _ []byte) bool {
		if num == 4 || num == 5 {
			v2 = true
			return false
		}
		return num != 1 // a 1.0 series: not 2.0
	})
	return v2
}

// decodeV2 decodes a 2.0 Request (samples, native histograms and metadata; exemplars are not
// carried) into dst; false on malformed protobuf or a label reference outside the symbols. The
// symbols are parked in dst's tag pool (as keys) for random access: sub-slices of b, no copy.
func decodeV2(dst *messages.Rows, b []byte) bool {
	mark, points, extras := dst.TagsMark(), len(dst.Points), len(dst.Extras)
	if !walk(b, func(num protowire.Number, typ protowire.Type, v []byte) bool {
		if num == 4 {
			dst.AddTag(v, nil)
			return typ == protowire.BytesType
		}
		return num != 5 || typ == protowire.BytesType
	}) {
		dst.DropTagsTo(mark)
		return false
	}
	syms := dst.TagsSince(mark)
	ok := walk(b, func(num protowire.Number, _ protowire.Type, ts []byte) bool {
		if num != 5 {
			return true
		}
		smark := dst.TagsMark()
		var name []byte
		okRefs := walk(ts, func(n protowire.Number, t protowire.Type, refs []byte) bool {
			if n != 1 {
				return true
			}
			if t != protowire.BytesType {
				return false
			}
			for len(refs) > 0 {
				k, n1 := protowire.ConsumeVarint(refs)
				if n1 < 0 {
					return false
				}
				v, n2 := protowire.ConsumeVarint(refs[n1:])
				if n2 < 0 || k >= uint64(len(syms)) || v >= uint64(len(syms)) {
					return false
				}
				refs = refs[n1+n2:]
				if string(syms[k].Key) == "__name__" {
					name = syms[v].Key
				} else {
					dst.AddLabel(syms[k].Key, syms[v].Key)
				}
			}
			return true
		})
		if !okRefs {
			return false
		}
		if len(name) == 0 {
			dst.DropTagsTo(smark)
			dst.AddBad(ts, messages.ReasonUnparseable, "series without a __name__ label")
			return true
		}
		tags := dst.TagsSince(smark)
		var meta messages.PointExtra
		if !walk(ts, func(n protowire.Number, t protowire.Type, m []byte) bool {
			return n != 5 || t == protowire.BytesType && metadataV2(&meta, m, syms)
		}) {
			return false
		}
		var metaRef uint32
		if meta.HasMetadata() {
			metaRef = dst.AddExtra(meta)
		}
		return walk(ts, func(n protowire.Number, t protowire.Type, s []byte) bool {
			switch {
			case n == 3:
				return t == protowire.BytesType && histogramPoint(dst, name, tags, s, meta)
			case n != 2:
				return true
			case t != protowire.BytesType:
				return false
			}
			value, tsMs, ok := decodeSample(s)
			if !ok {
				return false
			}
			dp := dst.NextPoint()
			dp.Metric, dp.Tags, dp.Timestamp, dp.Value, dp.Extra = name, tags, tsMs, value, metaRef
			return true
		})
	})
	if !ok {
		clear(dst.Points[points:])
		dst.Points, dst.Extras = dst.Points[:points], dst.Extras[:extras]
		dst.DropTagsTo(mark)
	}
	return ok
}

// metadataV2 reads a 2.0 Metadata message into x; false when it is malformed or refers outside
// the symbols.
func metadataV2(x *messages.PointExtra, m []byte, syms []messages.Tag) bool {
	for len(m) > 0 {
		n, typ, tl := protowire.ConsumeTag(m)
		if tl < 0 {
			return false
		}
		m = m[tl:]
		if typ != protowire.VarintType {
			k := protowire.ConsumeFieldValue(n, typ, m)
			if k < 0 {
				return false
			}
			m = m[k:]
			continue
		}
		v, k := protowire.ConsumeVarint(m)
		if k < 0 {
			return false
		}
		m = m[k:]
		switch n {
		case 1:
			if v <= uint64(messages.TypeStateset) {
				x.Type = messages.MetricType(v)
			}
		case 3, 4:
			if v >= uint64(len(syms)) {
				return false
			}
			if n == 3 {
				x.Help = syms[v].Key
			} else {
				x.Unit = syms[v].Key
			}
		}
	}
	return true
}

// histogramPoint adds a native histogram datapoint for the encoded Histogram h (the message is
// the same in 1.0 and 2.0): its fields but the timestamp copied to dst's arena, the timestamp on
// the datapoint, with meta's metadata; false when h is malformed.
func histogramPoint(dst *messages.Rows, name []byte, tags []messages.Tag, h []byte, meta messages.PointExtra) bool {
	body := dst.Reserve(len(h))
	var ts int64
	for b := h; len(b) > 0; {
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return false
		}
		n := protowire.ConsumeFieldValue(num, typ, b[tl:])
		if n < 0 {
			return false
		}
		if num == 15 && typ == protowire.VarintType {
			v, _ := protowire.ConsumeVarint(b[tl:])
			ts = int64(v)
		} else {
			body = append(body, b[:tl+n]...)
		}
		b = b[tl+n:]
	}
	meta.Histogram = body
	dp := dst.NextPoint()
	dp.Metric, dp.Tags, dp.Timestamp, dp.Extra = name, tags, ts, dst.AddExtra(meta)
	return true
}

// decodeSample reads a Sample that has not been validated; ok is false when it is malformed.
func decodeSample(b []byte) (value float64, ts int64, ok bool) {
	if !walk(b, func(protowire.Number, protowire.Type, []byte) bool { return true }) {
		return 0, 0, false
	}
	value, ts = sampleFields(b)
	return value, ts, true
}

// sampleFields reads a well-formed Sample: value (1, double) and timestamp (2, int64), the same
// in 1.0 and 2.0.
func sampleFields(b []byte) (value float64, ts int64) {
	for len(b) > 0 {
		n, typ, k := protowire.ConsumeTag(b)
		b = b[k:]
		switch {
		case n == 1 && typ == protowire.Fixed64Type:
			u, k := protowire.ConsumeFixed64(b)
			value, b = math.Float64frombits(u), b[k:]
		case n == 2 && typ == protowire.VarintType:
			u, k := protowire.ConsumeVarint(b)
			ts, b = int64(u), b[k:]
		default:
			b = b[protowire.ConsumeFieldValue(n, typ, b):]
		}
	}
	return value, ts
}
