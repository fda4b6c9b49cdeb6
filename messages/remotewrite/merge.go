package remotewrite

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Merger joins encoded TimeSeries from several batches into remote-write requests in which every
// series appears once with its samples in timestamp order. Workers sort each batch by series and
// time, but a writer's flush holds several batches, each with its own run of the same series; a
// strict receiver (Prometheus without an out-of-order window) rejects a whole request whose
// series goes back in time, so concatenating them is not enough.
//
// Add the segments, then Build; all storage is reused from one flush to the next, and none of it
// holds a pointer into the batches but the list of segments itself (offsets, not slices), so a
// flush of many thousand series gives the garbage collector nothing to scan.
type Merger struct {
	segs    [][]byte
	series  []seriesRef
	samples []sampleRef
	req     []byte
}

// seriesRef is one TimeSeries of one segment: where its header (label fields, then the
// metadata field of segments bound for 2.0) and its samples and histograms are.
type seriesRef struct {
	hash                 uint64 // of the label fields
	seg                  uint32
	labels, samples, end uint32 // offsets in the segment: labels start, samples start, end
	order                uint32 // arrival, so that equal timestamps keep their order
}

// sampleRef is one encoded samples field and its timestamp.
type sampleRef struct {
	ts         int64
	seg        uint32
	start, end uint32
}

func (m *Merger) labelsOf(r *seriesRef) []byte  { return m.segs[r.seg][r.labels:r.samples] }
func (m *Merger) samplesOf(r *seriesRef) []byte { return m.segs[r.seg][r.samples:r.end] }

// Reset forgets the added segments.
func (m *Merger) Reset() {
	clear(m.segs) // drop references to the batches' arenas
	m.segs = m.segs[:0]
	m.series = m.series[:0]
}

// Add takes a run of encoded WriteRequest.timeseries fields, as workers write them (labels
// first, then samples). It reports false, adding nothing, when seg is not such a run.
func (m *Merger) Add(seg []byte) bool {
	n := len(m.series)
	id := uint32(len(m.segs))
	for off := 0; off < len(seg); {
		num, typ, tl := protowire.ConsumeTag(seg[off:])
		if tl < 0 || num != 1 || typ != protowire.BytesType {
			m.series = m.series[:n]
			return false
		}
		ts, vl := protowire.ConsumeBytes(seg[off+tl:])
		if vl < 0 {
			m.series = m.series[:n]
			return false
		}
		split := labelsEnd(ts)
		if split < 0 {
			m.series = m.series[:n]
			return false
		}
		body := off + tl + vl - len(ts)
		m.series = append(m.series, seriesRef{hash: xxhash.Sum64(ts[:split]), seg: id, labels: uint32(body),
			samples: uint32(body + split), end: uint32(off + tl + vl), order: uint32(len(m.series))})
		off += tl + vl
	}
	m.segs = append(m.segs, seg)
	return true
}

// labelsEnd returns where a TimeSeries body's header (label fields, then metadata) ends and its
// samples and histograms begin, or -1 when the body is malformed, has a header field after a
// sample or a field a worker does not write.
func labelsEnd(ts []byte) int {
	end, off := 0, 0
	for off < len(ts) {
		num, typ, tl := protowire.ConsumeTag(ts[off:])
		if tl < 0 || typ != protowire.BytesType {
			return -1
		}
		_, vl := protowire.ConsumeBytes(ts[off+tl:])
		if vl < 0 {
			return -1
		}
		switch num {
		case 1, 15:
			if end != off {
				return -1
			}
			end = off + tl + vl
		case 2, 4:
		default:
			return -1
		}
		off += tl + vl
	}
	return end
}

// Series is how many distinct TimeSeries entries were added (before merging).
func (m *Merger) Series() int { return len(m.series) }

// Build merges the added series and calls emit with each request, uncompressed, and the number
// of samples in it; a request holds at most maxSamples samples and, unless one sample's series
// alone is larger, maxBytes bytes. A series larger than that is split over consecutive requests,
// in timestamp order. The request's bytes are valid until emit returns.
func (m *Merger) Build(maxSamples, maxBytes int, emit func(req []byte, samples int)) {
	// By hash, then arrival: equal hashes are nearly always one series, checked below.
	slices.SortFunc(m.series, func(a, b seriesRef) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.order, b.order))
	})
	m.req = m.req[:0]
	inReq := 0
	flush := func() {
		if inReq > 0 {
			emit(m.req, inReq)
		}
		m.req, inReq = m.req[:0], 0
	}
	for i := 0; i < len(m.series); {
		j := i + 1
		for j < len(m.series) && m.series[j].hash == m.series[i].hash {
			j++
		}
		if !m.oneSeries(m.series[i:j]) {
			// A hash collision between distinct series: order the run by labels, then arrival.
			slices.SortFunc(m.series[i:j], func(a, b seriesRef) int {
				return cmp.Or(bytes.Compare(m.labelsOf(&a), m.labelsOf(&b)), cmp.Compare(a.order, b.order))
			})
			j = i + 1
			for j < len(m.series) && m.series[j].hash == m.series[i].hash && bytes.Equal(m.labelsOf(&m.series[j]), m.labelsOf(&m.series[i])) {
				j++
			}
		}
		m.collect(m.series[i:j])
		labels := m.labelsOf(&m.series[i])
		for k := 0; k < len(m.samples); {
			// As many samples as fit in what is left of the request; at least one in an empty one.
			body := len(labels)
			end := k
			for end < len(m.samples) && inReq+end-k < maxSamples {
				next := body + int(m.samples[end].end-m.samples[end].start)
				if len(m.req)+SeriesSize(next) > maxBytes && (end > k || inReq > 0) {
					break
				}
				body = next
				end++
			}
			if end == k { // the request is full
				flush()
				continue
			}
			m.req = append(m.req, tagWriteRequestTimeseries)
			m.req = protowire.AppendVarint(m.req, uint64(body))
			m.req = append(m.req, labels...)
			for _, s := range m.samples[k:end] {
				m.req = append(m.req, m.segs[s.seg][s.start:s.end]...)
			}
			inReq += end - k
			k = end
			if end < len(m.samples) {
				flush()
			}
		}
		i = j
	}
	flush()
	m.Reset()
}

// oneSeries reports whether every entry of a run with one hash has the same labels.
func (m *Merger) oneSeries(run []seriesRef) bool {
	first := m.labelsOf(&run[0])
	for k := 1; k < len(run); k++ {
		if !bytes.Equal(m.labelsOf(&run[k]), first) {
			return false
		}
	}
	return true
}

// collect gathers the samples and histograms fields of one series' entries into m.samples, in
// timestamp order.
func (m *Merger) collect(entries []seriesRef) {
	m.samples = m.samples[:0]
	sorted := true
	for i := range entries {
		e := &entries[i]
		b := m.samplesOf(e)
		off := e.samples
		for len(b) > 0 {
			_, _, tl := protowire.ConsumeTag(b)
			v, vl := protowire.ConsumeBytes(b[tl:])
			t := sampleTimestamp(v)
			if b[0] == tagTimeSeriesHistograms {
				t = histogramTimestamp(v)
			}
			s := sampleRef{ts: t, seg: e.seg, start: off, end: off + uint32(tl+vl)}
			if n := len(m.samples); n > 0 && m.samples[n-1].ts > s.ts {
				sorted = false
			}
			m.samples = append(m.samples, s)
			b = b[tl+vl:]
			off += uint32(tl + vl)
		}
	}
	if !sorted {
		slices.SortStableFunc(m.samples, func(a, b sampleRef) int { return cmp.Compare(a.ts, b.ts) })
	}
}

// sampleTimestamp reads a Sample message's timestamp (0 when absent).
func sampleTimestamp(b []byte) int64 {
	// As AppendSample writes it: the value (fixed64), then the timestamp (varint).
	if len(b) > 10 && b[0] == tagSampleValue && b[9] == tagSampleTimestamp {
		if v, n := protowire.ConsumeVarint(b[10:]); n == len(b)-10 {
			return int64(v)
		}
	}
	return varintField(b, 2)
}

// histogramTimestamp reads a Histogram message's timestamp (field 15; 0 when absent), which
// AppendHistogram writes last.
func histogramTimestamp(b []byte) int64 { return varintField(b, 15) }

// varintField reads the last varint field num of message b as an int64 (0 when absent; what
// precedes malformed bytes when b is malformed).
func varintField(b []byte, field protowire.Number) int64 {
	var v int64
	for len(b) > 0 {
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return v
		}
		n := protowire.ConsumeFieldValue(num, typ, b[tl:])
		if n < 0 {
			return v
		}
		if num == field && typ == protowire.VarintType {
			u, _ := protowire.ConsumeVarint(b[tl:])
			v = int64(u)
		}
		b = b[tl+n:]
	}
	return v
}
