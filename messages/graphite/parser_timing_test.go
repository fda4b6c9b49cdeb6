package graphite

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/messages/internal/parsertest"
)

// benchInput builds n realistic lines; tagged lines carry 3 tags.
func benchInput(n int, tagged bool) []byte {
	var b bytes.Buffer
	metrics := []string{"cpu.user", "cpu.system", "mem.used", "net.bytes_in", "app.requests.p99"}
	for i := 0; i < n; i++ {
		if tagged {
			b.WriteString(metrics[i%len(metrics)])
			b.WriteString(";host=web")
			b.WriteString(strconv.Itoa(i % 97))
			b.WriteString(";dc=us-east-1;env=prod")
		} else {
			b.WriteString("servers.web")
			b.WriteString(strconv.Itoa(i % 97))
			b.WriteString(".")
			b.WriteString(metrics[i%len(metrics)])
		}
		b.WriteString(" ")
		b.WriteString(strconv.FormatFloat(float64(i%1000)*1.25, 'f', -1, 64))
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(1700000000 + i))
		b.WriteString("\n")
	}
	return b.Bytes()
}

func benchParse(b *testing.B, tagged bool) {
	parsertest.Bench(b, parse, benchInput(1000, tagged), 1000, "ns/line")
}

func BenchmarkParsePlain(b *testing.B)  { benchParse(b, false) }
func BenchmarkParseTagged(b *testing.B) { benchParse(b, true) }

// BenchmarkParsePlainVMShape uses the line shape of VictoriaMetrics' own Graphite benchmark
// (`cpu.usage_user 1.23 1234556768`), against which the 50 ns/line target was set.
func BenchmarkParsePlainVMShape(b *testing.B) {
	const lines = 1000
	var buf bytes.Buffer
	names := []string{"cpu.usage_user", "cpu.usage_system", "cpu.usage_iowait", "cpu.usage_irq"}
	for i := 0; i < lines; i++ {
		buf.WriteString(names[i%4] + " " + strconv.Itoa(i%100) + "." + strconv.Itoa(i%997) + " " +
			strconv.Itoa(1234556768+i%3) + "\n")
	}
	parsertest.Bench(b, parse, buf.Bytes(), lines, "ns/line")
}
