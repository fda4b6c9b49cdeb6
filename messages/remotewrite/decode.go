package remotewrite

import (
	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/messages"
)

// maxDecodedLen bounds what one record may decompress to.
const maxDecodedLen = 64 << 20

// Parse decodes one Prometheus remote-write 1.0 WriteRequest or 2.0 Request (its samples and
// native histograms; 2.0's metadata too),
// snappy block-compressed or raw (whichever decodes), appending a datapoint per sample: the metric
// is the __name__ label, the
// other labels are its tags. Decompression goes to the Rows' arena and labels are sub-slices of
// it, so steady-state decoding allocates nothing. Samples carry their timestamps, so the
// record's timestamp (the signature every format's Parse shares) is unused.
func Parse(dst *messages.Rows, record []byte, _ int64) {
	if len(record) == 0 {
		return
	}
	if n, err := s2.DecodedLen(record); err == nil && n <= maxDecodedLen {
		mark := dst.TagsMark()
		points, bad, extras := len(dst.Points), len(dst.Bad), len(dst.Extras)
		buf := dst.Reserve(n)
		if out, err := s2.Decode(buf[:n], record); err == nil && decodeRequest(dst, out) {
			return
		}
		// Not snappy after all: undo and read it raw.
		dst.DropTagsTo(mark)
		dst.Points, dst.Bad, dst.Extras = dst.Points[:points], dst.Bad[:bad], dst.Extras[:extras]
	}
	if !decodeRequest(dst, record) {
		dst.AddBad(record, messages.ReasonUnparseable, "neither a WriteRequest nor a snappy-compressed one")
	}
}

// decodeRequest decodes a WriteRequest; on a protobuf error it adds nothing and reports false.
func decodeRequest(dst *messages.Rows, b []byte) bool {
	if IsV2(b) {
		return decodeV2(dst, b)
	}
	// Validate the whole message first, so a corrupt one adds no half of itself.
	if !walk(b, func(num protowire.Number, typ protowire.Type, v []byte) bool {
		return num != 1 || typ == protowire.BytesType && validSeries(v)
	}) {
		return false
	}
	walk(b, func(num protowire.Number, _ protowire.Type, v []byte) bool {
		if num == 1 {
			decodeSeries(dst, v)
		}
		return true
	})
	return true
}

// walk calls fn for every field of message b; it reports false on malformed protobuf or when fn
// does. v is the field's bytes for length-delimited fields, nil otherwise.
func walk(b []byte, fn func(protowire.Number, protowire.Type, []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 || !fn(num, typ, v) {
			return false
		}
		b = b[n:]
	}
	return true
}

func validSeries(ts []byte) bool {
	return walk(ts, func(num protowire.Number, typ protowire.Type, v []byte) bool {
		switch num {
		case 1:
			return typ == protowire.BytesType && walk(v, func(n protowire.Number, t protowire.Type, _ []byte) bool {
				return n > 2 || t == protowire.BytesType
			})
		case 2:
			return typ == protowire.BytesType && walk(v, func(n protowire.Number, t protowire.Type, _ []byte) bool {
				return n == 1 && t == protowire.Fixed64Type || n == 2 && t == protowire.VarintType || n > 2
			})
		case 4:
			return typ == protowire.BytesType && walk(v, func(protowire.Number, protowire.Type, []byte) bool { return true })
		}
		return true
	})
}

// decodeSeries adds one datapoint per sample of a (validated) TimeSeries.
func decodeSeries(dst *messages.Rows, ts []byte) {
	mark := dst.TagsMark()
	var name []byte
	walk(ts, func(num protowire.Number, _ protowire.Type, v []byte) bool {
		if num != 1 {
			return true
		}
		var lname, lvalue []byte
		walk(v, func(n protowire.Number, _ protowire.Type, f []byte) bool {
			switch n {
			case 1:
				lname = f
			case 2:
				lvalue = f
			}
			return true
		})
		if string(lname) == "__name__" {
			name = lvalue
		} else {
			dst.AddLabel(lname, lvalue)
		}
		return true
	})
	if len(name) == 0 {
		dst.DropTagsTo(mark)
		dst.AddBad(ts, messages.ReasonUnparseable, "series without a __name__ label")
		return
	}
	tags := dst.TagsSince(mark)
	walk(ts, func(num protowire.Number, _ protowire.Type, v []byte) bool {
		if num == 4 { // a native histogram (1.0's experimental field)
			return histogramPoint(dst, name, tags, v, messages.PointExtra{})
		}
		if num != 2 {
			return true
		}
		value, t := sampleFields(v)
		dp := dst.NextPoint()
		dp.Metric, dp.Tags, dp.Timestamp, dp.Value = name, tags, t, value
		return true
	})
}
