package prometheus

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/messages/internal/parsertest"
)

// benchInput builds n samples with 5 labels each, with a HELP and TYPE line every 50 samples.
func benchInput(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		if i%50 == 0 {
			b.WriteString("# HELP http_requests_total The total number of HTTP requests.\n# TYPE http_requests_total counter\n")
		}
		b.WriteString(`http_requests_total{method="post",code="200",handler="/api/v1/query",instance="web`)
		b.WriteString(strconv.Itoa(i % 97))
		b.WriteString(`:9090",job="api"} `)
		b.WriteString(strconv.Itoa(i * 3))
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(1700000000000 + i))
		b.WriteString("\n")
	}
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	parsertest.Bench(b, parse, benchInput(1000), 1000, "ns/line")
}
