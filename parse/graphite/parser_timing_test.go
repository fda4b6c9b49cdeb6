package graphite

import (
	"testing"

	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
)

func BenchmarkParsePlain(b *testing.B) {
	parsertest.Bench(b, parse, benchlines.Graphite(1000, false), 1000, "ns/line")
}

func BenchmarkParseTagged(b *testing.B) {
	parsertest.Bench(b, parse, benchlines.Graphite(1000, true), 1000, "ns/line")
}

// BenchmarkParsePlainVMShape uses the line shape of VictoriaMetrics' own Graphite benchmark,
// against which the 50 ns/line target was set.
func BenchmarkParsePlainVMShape(b *testing.B) {
	parsertest.Bench(b, parse, benchlines.GraphiteVMShape(1000), 1000, "ns/line")
}
