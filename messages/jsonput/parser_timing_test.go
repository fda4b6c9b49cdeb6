package jsonput

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/messages/internal/parsertest"
)

// benchInput builds an /api/put array of n datapoints with 3 tags each.
func benchInput(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(`{"metric":"sys.cpu.user","timestamp":`)
		b.WriteString(strconv.Itoa(1700000000 + i))
		b.WriteString(`,"value":`)
		b.WriteString(strconv.FormatFloat(float64(i%1000)*1.25, 'f', -1, 64))
		b.WriteString(`,"tags":{"host":"web`)
		b.WriteString(strconv.Itoa(i % 97))
		b.WriteString(`","dc":"us-east-1","cpu":"`)
		b.WriteString(strconv.Itoa(i % 8))
		b.WriteString(`"}}`)
	}
	b.WriteString("]")
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	parsertest.Bench(b, Parse, benchInput(1000), 1000, "ns/line")
}
