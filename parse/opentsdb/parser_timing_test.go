package opentsdb

import (
	"testing"

	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
)

// BenchmarkParse times 4-tag `put` lines.
func BenchmarkParse(b *testing.B) {
	parsertest.Bench(b, parse, benchlines.OpenTSDB(1000), 1000, "ns/line")
}

// BenchmarkParseVMShape uses the line shape of VictoriaMetrics' own OpenTSDB benchmark (one
// tag), against which the 65 ns/line target was set.
func BenchmarkParseVMShape(b *testing.B) {
	parsertest.Bench(b, parse, benchlines.OpenTSDBVMShape(1000), 1000, "ns/line")
}
