package otlp

// The protobuf wire: walking fields and reading attributes, slicing the record.

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/messages"
)

// keyValue decodes a KeyValue: its key and its value as label text (strings as they are,
// numbers and booleans formatted into dst's arena; arrays, maps and bytes are not labels and
// yield an empty value). ok is false on malformed protobuf.
func keyValue(dst *messages.Rows, kv []byte) (k, v []byte, ok bool) {
	ok = walk(kv, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch num {
		case 1:
			k = b
		case 2:
			if typ != protowire.BytesType {
				return false
			}
			return walk(b, func(n protowire.Number, t protowire.Type, s []byte, u uint64) bool {
				var nb [32]byte
				switch n {
				case 1:
					v = s
				case 2:
					v = valueFalse
					if u != 0 {
						v = valueTrue
					}
				case 3:
					v = dst.Append(strconv.AppendInt(nb[:0], int64(u), 10))
				case 4:
					v = dst.Append(strconv.AppendFloat(nb[:0], math.Float64frombits(u), 'g', -1, 64))
				}
				return true
			})
		default:
			return true
		}
		return typ == protowire.BytesType
	})
	return k, v, ok
}

// walk calls fn for every field of message b: v holds a length-delimited field's bytes, u a
// varint or fixed field's value. It reports false on malformed protobuf or when fn does.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, u uint64) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var v []byte
		var u uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			u, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var u32 uint32
			u32, n = protowire.ConsumeFixed32(b)
			u = uint64(u32)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 || !fn(num, typ, v, u) {
			return false
		}
		b = b[n:]
	}
	return true
}
