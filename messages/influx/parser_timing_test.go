package influx

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/messages"
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
	const lines = 1000
	p, _ := New("ns", "_", false)
	input := benchInput(lines)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	var rows messages.Rows
	for b.Loop() {
		rows.Reset()
		p.Parse(&rows, input, recTs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}
