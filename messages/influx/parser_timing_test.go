package influx

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/internal/parsertest"
)

// benchInput builds n lines with 4 tags and 3 fields each (Telegraf's cpu plugin shape).
func benchInput(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString("cpu,cpu=cpu")
		b.WriteString(strconv.Itoa(i % 8))
		b.WriteString(",host=web")
		b.WriteString(strconv.Itoa(i % 97))
		b.WriteString(",dc=us-east-1,env=prod usage_user=")
		b.WriteString(strconv.FormatFloat(float64(i%1000)*0.125, 'f', -1, 64))
		b.WriteString(",usage_system=")
		b.WriteString(strconv.Itoa(i % 100))
		b.WriteString(".5,usage_idle=")
		b.WriteString(strconv.Itoa(i % 90))
		b.WriteString("i ")
		b.WriteString(strconv.FormatInt(1700000000000000000+int64(i)*1000000, 10))
		b.WriteString("\n")
	}
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	p, _ := New("ns", "_", false)
	parsertest.Bench(b, func(dst *messages.Rows, s []byte) { p.Parse(dst, s, recTs) }, benchInput(1000), 1000, "ns/line")
}
