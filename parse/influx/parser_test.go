package influx

import (
	"testing"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
)

const recTs = int64(1_700_000_999_000)

var (
	dp  = parsertest.DP
	bad = parsertest.Bad
)

func str(field string) messages.BadLine {
	return parsertest.BadWith(field, messages.ReasonStringField, "string field skipped")
}

func check(t *testing.T, p *Parser, s string, wantPoints []messages.Datapoint, wantBad []messages.BadLine) {
	t.Helper()
	var rows messages.Rows
	parsertest.Check(t, &rows, func(dst *messages.Rows, b []byte) { p.Parse(dst, b, recTs) }, s, wantPoints, wantBad)
}

func TestParse(t *testing.T) {
	p, _ := New("ns", "_", false)
	f := func(s string, wantPoints []messages.Datapoint, wantBad []messages.BadLine) {
		t.Helper()
		check(t, p, s, wantPoints, wantBad)
	}
	f("", nil, nil)
	f("# comment\n\n", nil, nil)
	f("cpu,host=web01,region=us usage_user=12.5,usage_idle=80i 1700000000000000000",
		[]messages.Datapoint{dp("cpu_usage_user", 1700000000000, 12.5, "host", "web01", "region", "us"),
			dp("cpu_usage_idle", 1700000000000, 80, "host", "web01", "region", "us")}, nil)
	// No tags, no timestamp.
	f("mem used=3u", []messages.Datapoint{dp("mem_used", recTs, 3)}, nil)
	// Booleans.
	f("s a=t,b=FALSE,c=True", []messages.Datapoint{dp("s_a", recTs, 1), dp("s_b", recTs, 0), dp("s_c", recTs, 1)}, nil)
	// String fields are skipped and counted; the numeric ones stay.
	f(`log,host=a msg="hello, world = \"x\"",n=2 1000000`,
		[]messages.Datapoint{dp("log_n", 1, 2, "host", "a")}, []messages.BadLine{str(`"hello, world = \"x\""`)})
	// Escapes in measurement, tag keys and values, field keys.
	f(`my\ cpu\,x,ho\=st=we\ b\,1 us\ er=1 0`,
		[]messages.Datapoint{dp(`my cpu,x_us er`, 0, 1, "ho=st", "we b,1")}, nil)
	// CRLF and several lines.
	f("a v=1 1000000\r\nb v=2 2000000\n", []messages.Datapoint{dp("a_v", 1, 1), dp("b_v", 2, 2)}, nil)
	// Bad lines.
	f("cpu", nil, []messages.BadLine{bad("cpu", "missing fields")})
	f("cpu,host=a", nil, []messages.BadLine{bad("cpu,host=a", "missing fields")})
	f("cpu,host usage=1", nil, []messages.BadLine{bad("cpu,host usage=1", "invalid tag: want key=value")})
	f("cpu,=a usage=1", nil, []messages.BadLine{bad("cpu,=a usage=1", "invalid tag: want key=value")})
	f("cpu,h= usage=1", nil, []messages.BadLine{bad("cpu,h= usage=1", "invalid tag: want key=value")})
	f("cpu usage", nil, []messages.BadLine{bad("cpu usage", "invalid field: want key=value")})
	f("cpu usage=", nil, []messages.BadLine{bad("cpu usage=", "invalid field value")})
	f(`cpu usage="unterminated`, nil, []messages.BadLine{bad(`cpu usage="unterminated`, "invalid field value")})
	f("cpu usage=1 17x", nil, []messages.BadLine{bad("cpu usage=1 17x", "invalid timestamp")})
	f("cpu usage=abc", nil, []messages.BadLine{bad("cpu usage=abc", "invalid field value")})
	f("cpu usage=-1u", nil, []messages.BadLine{bad("cpu usage=-1u", "invalid field value")})
	f(",host=a v=1", nil, []messages.BadLine{bad(",host=a v=1", "missing measurement")})
	// A bad line leaves no tags behind for the next row.
	f("a,k=v bad\nb,x=y v=2", []messages.Datapoint{dp("b_v", recTs, 2, "x", "y")},
		[]messages.BadLine{bad("a,k=v bad", "invalid field: want key=value")})
}

func TestOptions(t *testing.T) {
	sec, _ := New("s", ".", true)
	check(t, sec, "cpu,h=a value=1,idle=2 1700000000",
		[]messages.Datapoint{dp("cpu", 1700000000000, 1, "h", "a"), dp("cpu.idle", 1700000000000, 2, "h", "a")}, nil)
	ms, _ := New("ms", "_", false)
	check(t, ms, "cpu value=1 1700000000123", []messages.Datapoint{dp("cpu_value", 1700000000123, 1)}, nil)
	us, _ := New("us", "_", false)
	check(t, us, "cpu v=1 1700000000123456", []messages.Datapoint{dp("cpu_v", 1700000000123, 1)}, nil)
	if _, ok := New("minutes", "_", false); ok {
		t.Fatal("New accepted an unknown precision")
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	p, _ := New("ns", "_", false)
	parsertest.NoAllocs(t, func(dst *messages.Rows, b []byte) { p.Parse(dst, b, recTs) }, benchlines.Influx(1000), 3000)
}

func FuzzParse(f *testing.F) {
	f.Add("cpu,host=web01,region=us usage_user=12.5,usage_idle=80i,up=t 1700000000000000000\n")
	f.Add(`log,host=a msg="hello, world = \"x\"",n=2 1000000` + "\r\n" + `my\ cpu\,x,ho\=st=we\ b\,1 us\ er=1 0`)
	f.Add("a,k=v bad\nb,x=y v=2u")
	p, _ := New("ns", "_", false)
	f.Fuzz(func(t *testing.T, s string) {
		var rows messages.Rows
		p.Parse(&rows, []byte(s), recTs)
		for _, pt := range rows.Points {
			if len(pt.Metric) < 2 {
				t.Fatalf("metric %q cannot be measurement_field, from %q", pt.Metric, s)
			}
			for _, tg := range pt.Tags {
				if len(tg.Key) == 0 || len(tg.Value) == 0 {
					t.Fatalf("empty tag from %q", s)
				}
			}
		}
	})
}
