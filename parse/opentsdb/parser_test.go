package opentsdb

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
)

var (
	dp  = parsertest.DP
	bad = parsertest.Bad
)

func parse(dst *messages.Rows, s []byte) { Parse(dst, s, 0) }

func TestParse(t *testing.T) {
	var rows messages.Rows
	f := func(s string, wantPoints []messages.Datapoint, wantBad []messages.BadLine) {
		t.Helper()
		parsertest.Check(t, &rows, parse, s, wantPoints, wantBad)
	}
	f("", nil, nil)
	f("\n\r\n  \n", nil, nil)
	f("put sys.cpu.user 1700000000 42.5 host=web01 cpu=0",
		[]messages.Datapoint{dp("sys.cpu.user", 1700000000000, 42.5, "host", "web01", "cpu", "0")}, nil)
	// "put" is optional.
	f("sys.cpu.user 1700000000 1 host=a", []messages.Datapoint{dp("sys.cpu.user", 1700000000000, 1, "host", "a")}, nil)
	// Milliseconds.
	f("put m 1700000000123 -3 a=b", []messages.Datapoint{dp("m", 1700000000123, -3, "a", "b")}, nil)
	// Fractional seconds.
	f("put m 1700000000.5 1 a=b", []messages.Datapoint{dp("m", 1700000000500, 1, "a", "b")}, nil)
	// No tags at all is accepted here; validation decides whether that is allowed.
	f("put m 1700000000 7", []messages.Datapoint{dp("m", 1700000000000, 7)}, nil)
	// Extra spaces, tabs and CRLF.
	f("  put   m   1700000000   1.25   a=b    c=d  \r\nput n 1700000001 2 x=y\r\n",
		[]messages.Datapoint{dp("m", 1700000000000, 1.25, "a", "b", "c", "d"), dp("n", 1700000001000, 2, "x", "y")}, nil)
	// Exponents, NaN and infinities parse; validation applies the policy.
	f("put m 1 1.5e3 a=b", []messages.Datapoint{dp("m", 1000, 1500, "a", "b")}, nil)
	f("put m 1 -Inf a=b", []messages.Datapoint{dp("m", 1000, math.Inf(-1), "a", "b")}, nil)
	// Tag values may contain '='.
	f("put m 1 1 q=a=b", []messages.Datapoint{dp("m", 1000, 1, "q", "a=b")}, nil)
	// Bad lines are reported and do not stop the others.
	f("put m 1700000000 1 a=b\nput m\nput m 1700000002 3 c=d",
		[]messages.Datapoint{dp("m", 1700000000000, 1, "a", "b"), dp("m", 1700000002000, 3, "c", "d")},
		[]messages.BadLine{bad("put m", "missing timestamp")})
	f("put", nil, []messages.BadLine{bad("put", "missing timestamp")})
	f("put m 17x0 1 a=b", nil, []messages.BadLine{bad("put m 17x0 1 a=b", "invalid timestamp")})
	f("put m -1 1 a=b", nil, []messages.BadLine{bad("put m -1 1 a=b", "invalid timestamp")})
	f("put m 1.2345 1 a=b", nil, []messages.BadLine{bad("put m 1.2345 1 a=b", "invalid timestamp")})
	f("put m 12345678901234 1 a=b", nil, []messages.BadLine{bad("put m 12345678901234 1 a=b", "invalid timestamp")})
	// Fractions: up to 3 digits, on seconds only, never empty, never alone.
	f("put m 1700000000.123 1 a=b", []messages.Datapoint{dp("m", 1700000000123, 1, "a", "b")}, nil)
	f("put m 1700000000.05 1 a=b", []messages.Datapoint{dp("m", 1700000000050, 1, "a", "b")}, nil)
	for _, ts := range []string{"1700000000.", ".5", "17000000001.5", "1700000000.5x", "1700000000,5", "+1700000000", "1e9"} {
		line := "put m " + ts + " 1 a=b"
		f(line, nil, []messages.BadLine{bad(line, "invalid timestamp")})
	}
	f("put m 1700000000", nil, []messages.BadLine{bad("put m 1700000000", "missing value")})
	f("put m 1700000000 abc a=b", nil, []messages.BadLine{bad("put m 1700000000 abc a=b", "invalid value")})
	f("put m 1700000000 1 a=b novalue", nil, []messages.BadLine{bad("put m 1700000000 1 a=b novalue", "invalid tag: want key=value")})
	f("put m 1700000000 1 =v", nil, []messages.BadLine{bad("put m 1700000000 1 =v", "invalid tag: want key=value")})
	f("put m 1700000000 1 k=", nil, []messages.BadLine{bad("put m 1700000000 1 k=", "invalid tag: want key=value")})
	// A bad tag in one line does not leave its good tags in the next row.
	f("put m 1 1 a=b bad\nput n 2 2 c=d", []messages.Datapoint{dp("n", 2000, 2, "c", "d")},
		[]messages.BadLine{bad("put m 1 1 a=b bad", "invalid tag: want key=value")})
}

// TestRowTagsAreCapped proves that appending to one row's tags cannot overwrite the next row's.
func TestRowTagsAreCapped(t *testing.T) {
	var rows messages.Rows
	Parse(&rows, []byte("put a 1 1 k=v\nput b 1 1 x=y"), 0)
	first := rows.Points[0].Tags
	_ = append(first, messages.Tag{Key: []byte("evil"), Value: []byte("!")})
	if got := string(rows.Points[1].Tags[0].Key); got != "x" {
		t.Fatalf("second row's tag was overwritten: %q", got)
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	parsertest.NoAllocs(t, parse, benchlines.OpenTSDB(1000), 1000)
}

func FuzzParse(f *testing.F) {
	f.Add("put sys.cpu.user 1700000000 42.5 host=web01 cpu=0\n")
	f.Add("m 1700000000123 1 a=b\r\nput m 1.5 NaN q=a=b\n\n")
	f.Add("put m 1700000000 1 a=b bad")
	f.Fuzz(func(t *testing.T, s string) {
		var rows messages.Rows
		Parse(&rows, []byte(s), 0)
		for _, p := range rows.Points {
			if len(p.Metric) == 0 {
				t.Fatalf("empty metric from %q", s)
			}
			for _, tg := range p.Tags {
				if len(tg.Key) == 0 || len(tg.Value) == 0 {
					t.Fatalf("empty tag key or value from %q", s)
				}
			}
		}
		for _, b := range rows.Bad {
			if b.Detail == "" {
				t.Fatalf("bad line without detail from %q", s)
			}
		}
	})
}
