package influx

import (
	"testing"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
)

// BenchmarkParse times lines with 4 tags and 3 fields.
func BenchmarkParse(b *testing.B) {
	p, _ := New("ns", "_", false)
	parsertest.Bench(b, func(dst *messages.Rows, s []byte) { p.Parse(dst, s, recTs) }, benchlines.Influx(1000), 1000, "ns/line")
}
