package relabelcheck

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestDashboardQueriesParse: every query of examples/grafana/sluice.json is PromQL that
// Prometheus' own parser accepts (with Grafana's $job variable filled in), so a panel never
// shows a parse error.
func TestDashboardQueriesParse(t *testing.T) {
	raw, err := os.ReadFile("../../examples/grafana/sluice.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	pp := parser.NewParser(parser.Options{})
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			n++
			if _, err := pp.ParseExpr(strings.ReplaceAll(tg.Expr, "$job", "sluice")); err != nil {
				t.Errorf("panel %q: %s: %v", p.Title, tg.Expr, err)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d queries", n)
	}
}
