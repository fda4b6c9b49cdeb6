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
// Add the segments, then Build; all storage is reused from one flush to the next.
type Merger struct {
	series  []seriesRef
	samples []sampleRef
	req     []byte
}

// seriesRef is one TimeSeries of one segment: its label fields and its sample fields.
type seriesRef struct {
	hash    uint64
	labels  []byte
	samples []byte
	order   int // arrival, so that equal timestamps keep their order
}

// sampleRef is one encoded samples field and its timestamp.
type sampleRef struct {
	ts    int64
	field []byte
}

// Reset forgets the added segments.
func (m *Merger) Reset() {
	clear(m.series) // drop references to the batches' arenas
	m.series = m.series[:0]
}

// Add takes a run of encoded WriteRequest.timeseries fields, as workers write them (labels
// first, then samples). It reports false, adding nothing, when seg is not such a run.
func (m *Merger) Add(seg []byte) bool {
	n := len(m.series)
	for len(seg) > 0 {
		num, typ, tl := protowire.ConsumeTag(seg)
		if tl < 0 || num != 1 || typ != protowire.BytesType {
			m.series = m.series[:n]
			return false
		}
		ts, vl := protowire.ConsumeBytes(seg[tl:])
		if vl < 0 {
			m.series = m.series[:n]
			return false
		}
		seg = seg[tl+vl:]
		split := labelsEnd(ts)
		if split < 0 {
			m.series = m.series[:n]
			return false
		}
		m.series = append(m.series, seriesRef{hash: xxhash.Sum64(ts[:split]), labels: ts[:split], samples: ts[split:], order: len(m.series)})
	}
	return true
}

// labelsEnd returns where a TimeSeries body's label fields end and its samples begin, or -1 when
// the body is malformed or has a label after a sample.
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
		case 1:
			if end != off {
				return -1
			}
			end = off + tl + vl
		case 2:
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
	slices.SortFunc(m.series, func(a, b seriesRef) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), bytes.Compare(a.labels, b.labels), cmp.Compare(a.order, b.order))
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
		for j < len(m.series) && m.series[j].hash == m.series[i].hash && bytes.Equal(m.series[j].labels, m.series[i].labels) {
			j++
		}
		m.collect(m.series[i:j])
		labels := m.series[i].labels
		for k := 0; k < len(m.samples); {
			// As many samples as fit in what is left of the request; at least one in an empty one.
			body := len(labels)
			end := k
			for end < len(m.samples) && inReq+end-k < maxSamples {
				next := body + len(m.samples[end].field)
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
				m.req = append(m.req, s.field...)
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

// collect gathers the samples fields of one series' entries into m.samples, in timestamp order.
func (m *Merger) collect(entries []seriesRef) {
	m.samples = m.samples[:0]
	sorted := true
	for _, e := range entries {
		b := e.samples
		for len(b) > 0 {
			_, _, tl := protowire.ConsumeTag(b)
			v, vl := protowire.ConsumeBytes(b[tl:])
			s := sampleRef{ts: sampleTimestamp(v), field: b[:tl+vl]}
			if n := len(m.samples); n > 0 && m.samples[n-1].ts > s.ts {
				sorted = false
			}
			m.samples = append(m.samples, s)
			b = b[tl+vl:]
		}
	}
	if !sorted {
		slices.SortStableFunc(m.samples, func(a, b sampleRef) int { return cmp.Compare(a.ts, b.ts) })
	}
}

// sampleTimestamp reads a Sample message's timestamp (0 when absent).
func sampleTimestamp(b []byte) int64 {
	var ts int64
	for len(b) > 0 {
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return ts
		}
		n := protowire.ConsumeFieldValue(num, typ, b[tl:])
		if n < 0 {
			return ts
		}
		if num == 2 && typ == protowire.VarintType {
			v, _ := protowire.ConsumeVarint(b[tl:])
			ts = int64(v)
		}
		b = b[tl+n:]
	}
	return ts
}
