package opentsdb

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/messages/internal/parsertest"
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
	parsertest.Bench(b, parse, benchInput(1000), 1000, "ns/line")
}

// BenchmarkParseVMShape uses the line shape of VictoriaMetrics' own OpenTSDB benchmark
// (`put cpu.usage_user 1234556768 1.23 a=b`: one tag), against which the 65 ns/line
// target was set; BenchmarkParse's lines carry four tags.
func BenchmarkParseVMShape(b *testing.B) {
	const lines = 1000
	var buf bytes.Buffer
	names := []string{"cpu.usage_user", "cpu.usage_system", "cpu.usage_iowait", "cpu.usage_irq"}
	for i := 0; i < lines; i++ {
		buf.WriteString("put " + names[i%4] + " " + strconv.Itoa(1234556768+i%3) + " " +
			strconv.Itoa(i%100) + "." + strconv.Itoa(i%997) + " a=b\n")
	}
	parsertest.Bench(b, parse, buf.Bytes(), lines, "ns/line")
}
