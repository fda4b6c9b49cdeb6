package jsonput

import (
	"testing"

	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
)

// BenchmarkParse times an /api/put array of datapoints with 3 tags each.
func BenchmarkParse(b *testing.B) {
	parsertest.Bench(b, parse, benchlines.JSONPut(1000), 1000, "ns/line")
}
