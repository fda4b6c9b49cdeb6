package prometheus

import (
	"math"
	"reflect"
	"strings"
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

func parse(dst *messages.Rows, s []byte) { Parse(dst, s, recTs) }

func TestParse(t *testing.T) {
	var rows messages.Rows
	f := func(s string, wantPoints []messages.Datapoint, wantBad []messages.BadLine) {
		t.Helper()
		parsertest.Check(t, &rows, parse, s, wantPoints, wantBad)
	}
	f("", nil, nil)
	f("# HELP x Some help.\n# TYPE x counter\n\n  # indented comment\n", nil, nil)
	f(`http_requests_total{method="post",code="200"} 1027 1395066363000`,
		[]messages.Datapoint{dp("http_requests_total", 1395066363000, 1027, "method", "post", "code", "200")}, nil)
	f("metric_without_labels 12.47", []messages.Datapoint{dp("metric_without_labels", recTs, 12.47)}, nil)
	f("m{} 1", []messages.Datapoint{dp("m", recTs, 1)}, nil)
	// Trailing comma, spaces inside braces, tabs, CRLF.
	f("m{ a = \"1\" , b=\"2\", }\t3\t42\r\n", []messages.Datapoint{dp("m", 42, 3, "a", "1", "b", "2")}, nil)
	// Escapes.
	f(`msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9`,
		[]messages.Datapoint{dp("msdos_file_access_time_seconds", recTs, 1.458255915e9, "path", `C:\DIR\FILE.TXT`, "error", "Cannot find file:\n\"FILE.TXT\"")}, nil)
	// Special values.
	f("a NaN\nb +Inf\nc -Inf", []messages.Datapoint{dp("a", recTs, math.NaN()), dp("b", recTs, math.Inf(1)), dp("c", recTs, math.Inf(-1))}, nil)
	f(`m{le="+Inf"} 5`, []messages.Datapoint{dp("m", recTs, 5, "le", "+Inf")}, nil)
	f("ns:metric_name:rate5m 1", []messages.Datapoint{dp("ns:metric_name:rate5m", recTs, 1)}, nil)
	// An empty label value is no label (Prometheus' data model): a{x=""} is the series a.
	f(`vm_log_messages_total{app_version="",level="info"} 1`, []messages.Datapoint{dp("vm_log_messages_total", recTs, 1, "level", "info")}, nil)
	f(`a{x=""} 2`, []messages.Datapoint{dp("a", recTs, 2)}, nil)
	// Bad lines.
	f("9lives 1", nil, []messages.BadLine{bad("9lives 1", "invalid metric name")})
	f("m", nil, []messages.BadLine{bad("m", "missing value")})
	f("m x", nil, []messages.BadLine{bad("m x", "invalid value")})
	f("m 1 1.5", nil, []messages.BadLine{bad("m 1 1.5", "invalid timestamp")})
	f(`m{a="1" 1`, nil, []messages.BadLine{bad(`m{a="1" 1`, "invalid label name")})
	f(`m{a="1" b="2"} 1`, []messages.Datapoint{dp("m", recTs, 1, "a", "1", "b", "2")}, nil) // as Prometheus reads it
	f(`m{a="1`, nil, []messages.BadLine{bad(`m{a="1`, "unterminated label value")})
	f(`m{a=1} 1`, nil, []messages.BadLine{bad(`m{a=1} 1`, "label value must be quoted")})
	// An unknown escape is kept as written, as Prometheus' parser keeps it.
	f(`m{a="\q"} 1`, []messages.Datapoint{dp("m", recTs, 1, "a", `\q`)}, nil)
	// Prometheus 3's quoted UTF-8 names: the metric name as a quoted string in the braces, label
	// names quoted, escapes in both.
	f(`m{"a"="1"} 1`, []messages.Datapoint{dp("m", recTs, 1, "a", "1")}, nil)
	f(`{"my.metric", "label.x"="v", y="2"} 3 42`, []messages.Datapoint{dp("my.metric", 42, 3, "label.x", "v", "y", "2")}, nil)
	f(`{"only.name"} 4`, []messages.Datapoint{dp("only.name", recTs, 4)}, nil)
	f(`{a="1","quo\"ted"} 5`, []messages.Datapoint{dp(`quo"ted`, recTs, 5, "a", "1")}, nil)
	f(`{"é \\ x"="ü"} 6`, nil, []messages.BadLine{bad(`{"é \\ x"="ü"} 6`, "no metric name")})
	f(`m{"x"} 1`, nil, []messages.BadLine{bad(`m{"x"} 1`, "metric name given twice")})
	f(`{"a","b"} 1`, nil, []messages.BadLine{bad(`{"a","b"} 1`, "metric name given twice")})
	f(`{""} 1`, []messages.Datapoint{dp("", recTs, 1)}, nil) // validation rejects the empty name
	f(`{"a} 1`, nil, []messages.BadLine{bad(`{"a} 1`, "unterminated name")})
	f(`m{a} 1`, nil, []messages.BadLine{bad(`m{a} 1`, "missing = after label name")})
	f(`m{a="1"}1`, []messages.Datapoint{dp("m", recTs, 1, "a", "1")}, nil) // as Prometheus reads it
	// A bad line leaves no labels behind for the next.
	f("m{a=\"1\",b} 1\nn{c=\"2\"} 2", []messages.Datapoint{dp("n", recTs, 2, "c", "2")},
		[]messages.BadLine{bad(`m{a="1",b} 1`, "missing = after label name")})
}

func TestUnescapedValuesDoNotOverlap(t *testing.T) {
	var rows messages.Rows
	Parse(&rows, []byte("m{a=\"x\\\"1\",b=\"y\\\\2\"} 1\nn{c=\"z\\n3\"} 2\n"), recTs)
	got := []string{string(rows.Points[0].Tags[0].Value), string(rows.Points[0].Tags[1].Value), string(rows.Points[1].Tags[0].Value)}
	if want := []string{`x"1`, `y\2`, "z\n3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	parsertest.NoAllocs(t, parse, benchlines.Prometheus(1000), 1000)
}

func FuzzParse(f *testing.F) {
	f.Add("# TYPE x counter\nhttp_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n")
	f.Add("m{a=\"x\\\"1\",b=\"y\\\\2\",} NaN\nn +Inf 5\n")
	f.Add("m{a=\"1\",b} 1\n9x 2")
	f.Fuzz(func(t *testing.T, s string) {
		var rows messages.Rows
		Parse(&rows, []byte(s), recTs)
		for _, p := range rows.Points {
			// A name that is not a bare one can only come from a quoted name (validation judges it).
			if (len(p.Metric) == 0 || !isNameStart(p.Metric[0])) && !strings.Contains(s, `"`) {
				t.Fatalf("invalid metric %q from %q", p.Metric, s)
			}
			for _, tg := range p.Tags {
				if len(tg.Value) == 0 {
					t.Fatalf("a label with an empty value from %q: it is no label", s)
				}
			}
		}
	})
}
