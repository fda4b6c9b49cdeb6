// Package parsertest holds what every decoder's tests share: building expected rows, checking a
// parse (twice, to prove Rows are reused cleanly), asserting zero allocations and benchmarking
// per line.
package parsertest

import (
	"math"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/messages"
)

// ParseFunc parses one record into dst.
type ParseFunc func(dst *messages.Rows, s []byte)

// DP builds an expected datapoint; kv are tag keys and values.
func DP(metric string, ts int64, v float64, kv ...string) messages.Datapoint {
	d := messages.Datapoint{Metric: []byte(metric), Timestamp: ts, Value: v}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Tags = append(d.Tags, messages.Tag{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return d
}

// Bad builds an expected unparseable line.
func Bad(line, detail string) messages.BadLine {
	return BadWith(line, messages.ReasonUnparseable, detail)
}

// BadWith builds an expected bad line with another reason.
func BadWith(line string, reason messages.Reason, detail string) messages.BadLine {
	return messages.BadLine{Line: []byte(line), Reason: reason, Detail: detail}
}

// nanStandIn replaces NaN values, which never compare equal, in both got and want.
const nanStandIn = -123456789.5

func normalize(rs *messages.Rows) ([]messages.Datapoint, []messages.BadLine) {
	var pts []messages.Datapoint
	for _, p := range rs.Points {
		if len(p.Tags) == 0 {
			p.Tags = nil
		}
		if math.IsNaN(p.Value) {
			p.Value = nanStandIn
		}
		p.Extra = 0 // what a datapoint carries beyond its sample is checked by the decoders that set it
		pts = append(pts, p)
	}
	return pts, append([]messages.BadLine(nil), rs.Bad...)
}

// Check parses s twice into rows (the second pass proves Reset leaves nothing behind) and
// compares the datapoints and bad lines with the wanted ones. A wanted NaN value is written as
// math.NaN().
func Check(t testing.TB, rows *messages.Rows, parse ParseFunc, s string, wantPoints []messages.Datapoint, wantBad []messages.BadLine) {
	t.Helper()
	for i := range wantPoints {
		if math.IsNaN(wantPoints[i].Value) {
			wantPoints[i].Value = nanStandIn
		}
	}
	for pass := 0; pass < 2; pass++ {
		rows.Reset()
		parse(rows, []byte(s))
		gotP, gotB := normalize(rows)
		if !reflect.DeepEqual(gotP, wantPoints) {
			t.Fatalf("pass %d, %q: points\n got %+v\nwant %+v", pass, s, gotP, wantPoints)
		}
		if !reflect.DeepEqual(gotB, wantBad) {
			t.Fatalf("pass %d, %q: bad lines\n got %+v\nwant %+v", pass, s, gotB, wantBad)
		}
	}
}

// NoAllocs asserts that parsing input (after a first parse grew the storage) allocates nothing,
// and that it yields wantPoints datapoints and no bad line.
func NoAllocs(t testing.TB, parse ParseFunc, input []byte, wantPoints int) {
	t.Helper()
	var rows messages.Rows
	parse(&rows, input)
	n := testing.AllocsPerRun(100, func() {
		rows.Reset()
		parse(&rows, input)
	})
	if n != 0 || len(rows.Points) != wantPoints || len(rows.Bad) != 0 {
		t.Fatalf("%.1f allocs, %d points, %d bad; want 0, %d, 0", n, len(rows.Points), len(rows.Bad), wantPoints)
	}
}

// Bench benchmarks parse over input, which holds lines lines (or objects, or samples), and
// reports the time per one as unit ("ns/line").
func Bench(b *testing.B, parse ParseFunc, input []byte, lines int, unit string) {
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	var rows messages.Rows
	for b.Loop() {
		rows.Reset()
		parse(&rows, input)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), unit)
}
