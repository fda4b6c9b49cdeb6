package prometheus

import (
	"testing"

	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
)

// BenchmarkParse times samples with 5 labels, with HELP and TYPE lines every 50 samples.
func BenchmarkParse(b *testing.B) {
	parsertest.Bench(b, parse, benchlines.Prometheus(1000), 1000, "ns/line")
}
