// Package remotewrite encodes Prometheus remote-write 1.0 WriteRequests by hand, appending to
// caller-owned buffers (the schema is proto/remote.proto).
//
// A WriteRequest is a sequence of field-1 TimeSeries entries, so encoded series can be
// concatenated: a worker encodes each series once, and a writer joins the segments of a shard
// into one request without decoding them.
package remotewrite

import (
	"bytes"
	"math"

	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/messages"
)

// NameLabel is the label that carries the metric name.
var NameLabel = []byte("__name__")

const (
	tagWriteRequestTimeseries = 1<<3 | 2
	tagTimeSeriesLabels       = 1<<3 | 2
	tagTimeSeriesSamples      = 2<<3 | 2
	tagLabelName              = 1<<3 | 2
	tagLabelValue             = 2<<3 | 2
	tagSampleValue            = 1<<3 | 1 // fixed64
	tagSampleTimestamp        = 2<<3 | 0 // varint
	tagTimeSeriesHistograms   = 4<<3 | 2
	tagHistogramTimestamp     = 15<<3 | 0 // varint
	// tagTimeSeriesMetadata is Sluice's own field of a TimeSeries segment: the series' metadata
	// (type, help, unit), which remote write 1.0's TimeSeries has no field for. Workers write it
	// only into segments bound for a 2.0 output, whose transcoding turns it into the 2.0
	// TimeSeries' metadata; a 1.0 request never carries it.
	tagTimeSeriesMetadata = 15<<3 | 2
)

// Fields of the segment metadata message (tagTimeSeriesMetadata).
const (
	metaType = 1 // varint, messages.MetricType (remote write 2.0's enum)
	metaHelp = 2 // bytes
	metaUnit = 3 // bytes
)

func labelSize(name, value []byte) int {
	body := 1 + protowire.SizeBytes(len(name)) + 1 + protowire.SizeBytes(len(value))
	return 1 + protowire.SizeBytes(body)
}

// LabelsSize is the encoded size of the label fields of a series: the name label plus tags, which
// must already be sorted by key.
func LabelsSize(metric []byte, tags []messages.Tag) int {
	n := labelSize(NameLabel, metric)
	for _, t := range tags {
		n += labelSize(t.Key, t.Value)
	}
	return n
}

func sampleBody(ts int64) int { return 1 + 8 + 1 + protowire.SizeVarint(uint64(ts)) }

// SampleSize is the encoded size of one samples field.
func SampleSize(ts int64) int { return 1 + protowire.SizeBytes(sampleBody(ts)) }

// SeriesSize is the encoded size of a WriteRequest.timeseries field whose TimeSeries body (labels
// plus samples) is body bytes long.
func SeriesSize(body int) int { return 1 + protowire.SizeBytes(body) }

// AppendSeriesHeader appends the timeseries field header for a body of body bytes and the label
// fields; the caller then appends exactly the samples it counted in body with AppendSample.
func AppendSeriesHeader(dst []byte, body int, metric []byte, tags []messages.Tag) []byte {
	dst = append(dst, tagWriteRequestTimeseries)
	dst = protowire.AppendVarint(dst, uint64(body))
	return AppendLabels(dst, metric, tags)
}

// AppendLabels appends a series' label fields (LabelsSize bytes): the name label in its sorted
// place among the tags, which must already be sorted by key. Encoded once, they can head any
// number of TimeSeries with AppendSeriesLabels.
func AppendLabels(dst, metric []byte, tags []messages.Tag) []byte {
	nameDone := false
	for _, t := range tags {
		if !nameDone && bytes.Compare(t.Key, NameLabel) > 0 {
			dst = appendLabel(dst, NameLabel, metric)
			nameDone = true
		}
		dst = appendLabel(dst, t.Key, t.Value)
	}
	if !nameDone {
		dst = appendLabel(dst, NameLabel, metric)
	}
	return dst
}

// AppendSeriesLabels appends the timeseries field header for a body of body bytes followed by
// label fields encoded earlier with AppendLabels.
func AppendSeriesLabels(dst []byte, body int, labels []byte) []byte {
	dst = append(dst, tagWriteRequestTimeseries)
	dst = protowire.AppendVarint(dst, uint64(body))
	return append(dst, labels...)
}

func appendLabel(dst, name, value []byte) []byte {
	dst = append(dst, tagTimeSeriesLabels)
	dst = protowire.AppendVarint(dst, uint64(1+protowire.SizeBytes(len(name))+1+protowire.SizeBytes(len(value))))
	dst = append(dst, tagLabelName)
	dst = protowire.AppendBytes(dst, name)
	dst = append(dst, tagLabelValue)
	return protowire.AppendBytes(dst, value)
}

// AppendSample appends one samples field.
func AppendSample(dst []byte, value float64, ts int64) []byte {
	dst = append(dst, tagTimeSeriesSamples)
	dst = protowire.AppendVarint(dst, uint64(sampleBody(ts)))
	dst = append(dst, tagSampleValue)
	dst = protowire.AppendFixed64(dst, math.Float64bits(value))
	dst = append(dst, tagSampleTimestamp)
	return protowire.AppendVarint(dst, uint64(ts))
}

// HistogramSize is the encoded size of one histograms field holding hist (a Histogram message
// without its timestamp) and the timestamp ts.
func HistogramSize(hist []byte, ts int64) int {
	return 1 + protowire.SizeBytes(len(hist)+1+protowire.SizeVarint(uint64(ts)))
}

// AppendHistogram appends one histograms field (HistogramSize bytes): hist, then its timestamp.
func AppendHistogram(dst, hist []byte, ts int64) []byte {
	dst = append(dst, tagTimeSeriesHistograms)
	dst = protowire.AppendVarint(dst, uint64(len(hist)+1+protowire.SizeVarint(uint64(ts))))
	dst = append(dst, hist...)
	dst = append(dst, tagHistogramTimestamp)
	return protowire.AppendVarint(dst, uint64(ts))
}

// AppendMetadata appends a segment's metadata field (tagTimeSeriesMetadata), to follow the
// series' labels in segments bound for a remote write 2.0 output.
func AppendMetadata(dst []byte, typ messages.MetricType, unit, help []byte) []byte {
	body := 0
	if typ != messages.TypeUnknown {
		body += 1 + protowire.SizeVarint(uint64(typ))
	}
	if len(help) > 0 {
		body += 1 + protowire.SizeBytes(len(help))
	}
	if len(unit) > 0 {
		body += 1 + protowire.SizeBytes(len(unit))
	}
	dst = append(dst, tagTimeSeriesMetadata)
	dst = protowire.AppendVarint(dst, uint64(body))
	if typ != messages.TypeUnknown {
		dst = protowire.AppendTag(dst, metaType, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(typ))
	}
	if len(help) > 0 {
		dst = protowire.AppendTag(dst, metaHelp, protowire.BytesType)
		dst = protowire.AppendBytes(dst, help)
	}
	if len(unit) > 0 {
		dst = protowire.AppendTag(dst, metaUnit, protowire.BytesType)
		dst = protowire.AppendBytes(dst, unit)
	}
	return dst
}

// Compress snappy-compresses (block format, as remote write requires) src into dst's storage.
func Compress(dst, src []byte) []byte {
	if n := s2.MaxEncodedLen(len(src)); cap(dst) < n {
		dst = make([]byte, n)
	}
	return s2.EncodeSnappy(dst[:cap(dst)], src)
}
