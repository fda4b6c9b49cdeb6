package jsonput

import (
	"encoding/json"
	"testing"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
)

var (
	dp  = parsertest.DP
	bad = parsertest.Bad
)

// parse is Parse in parsertest's shape (JSON elements carry their own timestamps).
func parse(dst *messages.Rows, s []byte) { Parse(dst, s, 0) }

func TestParse(t *testing.T) {
	var rows messages.Rows
	f := func(s string, wantPoints []messages.Datapoint, wantBad []messages.BadLine) {
		t.Helper()
		parsertest.Check(t, &rows, parse, s, wantPoints, wantBad)
	}
	f("", nil, nil)
	f("  [ ] ", nil, nil)
	f(`{"metric":"sys.cpu.nice","timestamp":1346846400,"value":18,"tags":{"host":"web01","dc":"lga"}}`,
		[]messages.Datapoint{dp("sys.cpu.nice", 1346846400000, 18, "host", "web01", "dc", "lga")}, nil)
	f(`[{"metric":"a","timestamp":1346846400123,"value":1.5,"tags":{}},
	    {"tags":{"k":"v"},"value":"-2e3","timestamp":"1346846401","metric":"b"}]`,
		[]messages.Datapoint{dp("a", 1346846400123, 1.5), dp("b", 1346846401000, -2000, "k", "v")}, nil)
	// Unknown fields are skipped, whatever their shape.
	f(`{"metric":"a","x":{"y":[1,true,null,"s",{"z":-1.5e3}]},"timestamp":1,"value":2,"tags":{"k":"v"}}`,
		[]messages.Datapoint{dp("a", 1000, 2, "k", "v")}, nil)
	// Escapes.
	f(`{"metric":"a\/b","timestamp":1,"value":1,"tags":{"q\"":"caf\u00e9\n"}}`,
		[]messages.Datapoint{dp("a/b", 1000, 1, `q"`, "café\n")}, nil)
	// A bad element is reported and the next one still decodes.
	f(`[{"metric":"a","value":1},{"metric":"b","timestamp":2,"value":3}]`,
		[]messages.Datapoint{dp("b", 2000, 3)}, []messages.BadLine{bad(`{"metric":"a","value":1}`, "missing timestamp")})
	f(`[{"timestamp":1,"value":1},{"metric":"m","timestamp":1},{"metric":"m","timestamp":1,"value":true},{"metric":5,"timestamp":1,"value":1}]`, nil,
		[]messages.BadLine{bad(`{"timestamp":1,"value":1}`, "missing metric"), bad(`{"metric":"m","timestamp":1}`, "missing value"),
			bad(`{"metric":"m","timestamp":1,"value":true}`, "invalid value"), bad(`{"metric":5,"timestamp":1,"value":1}`, "metric must be a string")})
	f(`[{"metric":"m","timestamp":-1,"value":1},{"metric":"m","timestamp":1,"value":1,"tags":{"k":1}},7]`, nil,
		[]messages.BadLine{bad(`{"metric":"m","timestamp":-1,"value":1}`, "invalid timestamp"),
			bad(`{"metric":"m","timestamp":1,"value":1,"tags":{"k":1}}`, "tags must be an object of strings"),
			bad(`7`, "array element is not an object")})
	// Broken JSON: what cannot be resynchronised is reported once.
	f(`[{"metric":"a","timestamp":1,"value":1},{"metric":"b",`, []messages.Datapoint{dp("a", 1000, 1)},
		[]messages.BadLine{bad(`{"metric":"b",`, "invalid JSON object")})
	f(`not json`, nil, []messages.BadLine{bad(`not json`, "invalid JSON")})
	f(`[{"metric":"a","timestamp":1,"value":1}`, []messages.Datapoint{dp("a", 1000, 1)},
		[]messages.BadLine{bad(`[{"metric":"a","timestamp":1,"value":1}`, "unterminated array")})
	f(`{"metric":"a","timestamp":1,"value":1} trailing`, []messages.Datapoint{dp("a", 1000, 1)},
		[]messages.BadLine{bad(`trailing`, "unexpected data after the JSON value")})
}

// TestMatchesEncodingJSON cross-checks the scanner against encoding/json on valid bodies.
func TestMatchesEncodingJSON(t *testing.T) {
	body := benchlines.JSONPut(200)
	var want []struct {
		Metric    string            `json:"metric"`
		Timestamp int64             `json:"timestamp"`
		Value     float64           `json:"value"`
		Tags      map[string]string `json:"tags"`
	}
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	var rows messages.Rows
	Parse(&rows, body, 0)
	if len(rows.Points) != len(want) || len(rows.Bad) != 0 {
		t.Fatalf("%d points, %d bad; want %d, 0", len(rows.Points), len(rows.Bad), len(want))
	}
	for i, w := range want {
		p := rows.Points[i]
		if string(p.Metric) != w.Metric || p.Timestamp != w.Timestamp*1000 || p.Value != w.Value || len(p.Tags) != len(w.Tags) {
			t.Fatalf("point %d = %+v, want %+v", i, p, w)
		}
		for _, tg := range p.Tags {
			if w.Tags[string(tg.Key)] != string(tg.Value) {
				t.Fatalf("point %d tag %s=%s, want %s", i, tg.Key, tg.Value, w.Tags[string(tg.Key)])
			}
		}
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	parsertest.NoAllocs(t, parse, benchlines.JSONPut(1000), 1000)
}

func FuzzParse(f *testing.F) {
	f.Add(`{"metric":"sys.cpu.nice","timestamp":1346846400,"value":18,"tags":{"host":"web01","dc":"lga"}}`)
	f.Add(`[{"metric":"a\/b","timestamp":"1","value":"1","tags":{"q\"":"caf\u00e9"}},{"x":[1,{"y":null}]},7]`)
	f.Add(`[{"metric":"b",`)
	f.Fuzz(func(t *testing.T, s string) {
		var rows messages.Rows
		Parse(&rows, []byte(s), 0)
		for _, p := range rows.Points {
			if len(p.Metric) == 0 {
				t.Fatalf("empty metric from %q", s)
			}
		}
	})
}
