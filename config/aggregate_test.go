package config

import (
	"strings"
	"testing"
)

// TestAggregateBlock: an aggregate block's defaults, its spec (vmagent's output names) and its
// internal output on the aggregate's own topic.
func TestAggregateBlock(t *testing.T) {
	cfg, err := Load("t.hcl", []byte(`input "influx" {
  topics = ["in"]
  group  = "g"
}
output "kafka" "o" { topic = "o" }
aggregate "api" {
  match    = ["http.requests.**"]
  interval = "1m"
  without  = ["pod", "instance"]
  outputs  = ["total", "sum_samples", "quantiles(0.5, 0.99)"]
}`))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Aggregates[0]
	if a.Topic != "sluice.aggregate.api" || a.Lateness.Seconds() != 30 || a.MaxSeries != 10_000 || a.KeepInput {
		t.Fatalf("defaults: %+v", a)
	}
	if got := a.Spec.Name("http.requests", "total"); got != "http.requests:1m_without_instance_pod_total" {
		t.Fatalf("output name %q", got)
	}
	if a.Output.Type != OutputKafka || a.Output.Topic != a.Topic || a.Output.Name != "aggregate.api" || a.Output.FlushBytes == 0 || a.Output.Linger == 0 {
		t.Fatalf("internal output %+v", a.Output)
	}
	if cfg.AggregateGroup() != "g.aggregate" {
		t.Fatalf("aggregation group %q, want the first input's group with .aggregate", cfg.AggregateGroup())
	}
}

// TestAggregateErrors: every bad aggregate setting is an error where it was written, all at once.
func TestAggregateErrors(t *testing.T) {
	src := `input "influx" { topics = ["in"] }
output "kafka" "o" { topic = "o" }
aggregate "a" {
  match    = ["x.*"]
  interval = "1500ms"
  by       = ["a"]
  without  = ["b"]
  outputs  = ["sum_samples", "median", "quantiles(1.5)"]
}
aggregate "b" {
  match      = []
  interval   = "1m"
  outputs    = ["min"]
  lateness   = "soon"
  max_series = -1
  topic      = "in"
}
`
	heads, out := errorHeads(t, src)
	want := []string{
		`bad.hcl:5:14: error: Invalid interval`,
		`bad.hcl:7:14: error: Both by and without`,
		`bad.hcl:8:14: error: Invalid outputs`,
		`bad.hcl:11:16: error: Empty match`,
		`bad.hcl:14:16: error: Invalid duration`,
		`bad.hcl:15:16: error: Must be at least 1`,
		`bad.hcl:16:16: error: Aggregation topic is an input`,
	}
	if strings.Join(heads, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s\n\n%s", strings.Join(heads, "\n"), strings.Join(want, "\n"), out)
	}
	for _, detail := range []string{"whole number of seconds", `unknown output "median"`} {
		if !strings.Contains(out, detail) {
			t.Fatalf("output lacks %q:\n%s", detail, out)
		}
	}
}
