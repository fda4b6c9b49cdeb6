package opentsdb

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/messages"
)

// benchInput builds n realistic lines: a few hundred series over web hosts, 4 tags each.
func benchInput(n int) []byte {
	var b bytes.Buffer
	metrics := []string{"sys.cpu.user", "sys.cpu.system", "sys.mem.used", "net.bytes.in", "app.requests.latency.p99"}
	for i := 0; i < n; i++ {
		b.WriteString("put ")
		b.WriteString(metrics[i%len(metrics)])
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(1700000000 + i))
		b.WriteString(" ")
		b.WriteString(strconv.FormatFloat(float64(i%1000)*1.25, 'f', -1, 64))
		b.WriteString(" host=web")
		b.WriteString(strconv.Itoa(i % 97))
		b.WriteString(" dc=us-east-1 cpu=")
		b.WriteString(strconv.Itoa(i % 8))
		b.WriteString(" env=prod\n")
	}
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	const lines = 1000
	input := benchInput(lines)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	var rows messages.Rows
	for b.Loop() {
		rows.Reset()
		Parse(&rows, input)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}
