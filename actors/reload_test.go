package actors

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/shed"
)

func TestReload(t *testing.T) {
	load := func(extra string) *config.Config {
		t.Helper()
		cfg, err := config.Load("t.hcl", []byte(`input "opentsdb" { topics = ["in"] }
output "kafka" "o" { topic = "o" }
`+extra))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	p, err := New(load(`denylist { globs = ["a.**"] }`), hclog.NewNullLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := p.d
	oldValidator := d.settings.validator.Load()

	applied, restart, err := p.Reload(load(`denylist { globs = ["a.**"] }`))
	if err != nil || len(applied) != 0 || len(restart) != 0 {
		t.Fatalf("an unchanged file: applied %v, needs restart %v, %v", applied, restart, err)
	}

	applied, restart, err = p.Reload(load(`denylist { globs = ["secret.**"] }
validation { max_tags = 3 }
coordinator {
  hot_factor = 2
  enabled = false
}
pipeline { workers = 9 }
kafka { brokers = ["10.0.0.1:9092"] }
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"denylist", "validation", "coordinator"}; !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if want := []string{"kafka", "pipeline", "coordinator.enabled"}; !slices.Equal(restart, want) {
		t.Errorf("needs restart %v, want %v", restart, want)
	}
	if !d.settings.denylist.Load().Match([]byte("secret.key")) || d.settings.denylist.Load().Match([]byte("a.b")) {
		t.Error("the workers' denylist is not the reloaded one")
	}
	if d.settings.validator.Load() == oldValidator {
		t.Error("the validator was not replaced")
	}
	if co := d.settings.coordinator.Load(); co.HotFactor != 2 || !co.Enabled {
		t.Errorf("coordinator tuning %+v: want hot_factor 2 and enabled kept as running", co)
	}
	if d.workers != 4 || len(d.load.busy) != 4 {
		t.Errorf("a reload changed the worker count to %d", d.workers)
	}

	// The next reload compares with what runs: the ignored changes are reported again, the
	// applied ones are not.
	applied, restart, _ = p.Reload(load(`denylist { globs = ["secret.**"] }
validation { max_tags = 3 }
coordinator { hot_factor = 2 }
`))
	if len(applied) != 0 || len(restart) != 0 {
		t.Errorf("reloading what runs: applied %v, needs restart %v", applied, restart)
	}
}

// TestReloadDefaultTags: an input's default_tags and metric_prefix apply at the next batch; a
// change to its topics needs a restart and leaves the decoding as it was.
func TestReloadDefaultTags(t *testing.T) {
	load := func(input string) *config.Config {
		t.Helper()
		cfg, err := config.Load("t.hcl", []byte(input+"\n"+`output "kafka" "o" { topic = "o" }`))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	decoded := func(p *Pipeline) string {
		var rows messages.Rows
		(*p.d.decoders["in"].decode.Load())(&rows, []byte("put cpu 1700000000 1 host=a\n"), 0)
		if len(rows.Points) != 1 {
			t.Fatalf("decoded %d points", len(rows.Points))
		}
		dp := rows.Points[0]
		s := string(dp.Metric)
		for _, tag := range dp.Tags {
			s += " " + string(tag.Key) + "=" + string(tag.Value)
		}
		return s
	}
	p, err := New(load(`input "opentsdb" { topics = ["in"] }`), hclog.NewNullLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := decoded(p); got != "cpu host=a" {
		t.Fatalf("before: %q", got)
	}
	applied, restart, err := p.Reload(load(`input "opentsdb" {
  topics        = ["in"]
  default_tags  = { env = "prod" }
  metric_prefix = "fleet."
}`))
	if err != nil || !slices.Equal(applied, []string{"input.opentsdb"}) || len(restart) != 0 {
		t.Fatalf("applied %v, needs restart %v, %v", applied, restart, err)
	}
	if got := decoded(p); !strings.HasPrefix(got, "fleet.cpu") || !strings.Contains(got, "env=prod") {
		t.Fatalf("after the reload: %q; want the prefix and the default tag", got)
	}
	applied, restart, _ = p.Reload(load(`input "opentsdb" { topics = ["in", "more"] }`))
	if len(applied) != 0 || !slices.Equal(restart, []string{"input"}) {
		t.Fatalf("a topic change: applied %v, needs restart %v", applied, restart)
	}
	if got := decoded(p); !strings.HasPrefix(got, "fleet.cpu") {
		t.Fatalf("a restart-only change altered decoding: %q", got)
	}
}

// TestReloadLimitsAndPriorities: new budgets, shedding settings and route priorities apply at
// the next batch (a new budget set, its dropped counts carried over by name); a route change
// other than its priority needs a restart and leaves the priorities as they were.
func TestReloadLimitsAndPriorities(t *testing.T) {
	load := func(limits, priority, match string) *config.Config {
		t.Helper()
		cfg, err := config.Load("t.hcl", []byte(`input "opentsdb" { topics = ["in"] }
output "kafka" "o" { topic = "o" }
output "kafka" "p" { topic = "p" }
route {
  match    = [`+match+`]
  outputs  = ["o"]
  priority = "`+priority+`"
}
route { outputs = ["p"] }
`+limits))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	budget := `limits {
  budget "api" {
    match      = ["api.**"]
    max_series = 10
  }
}
`
	p, err := New(load(budget, "critical", `"ads.**"`), hclog.NewNullLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := p.d
	if c := *d.settings.classes.Load(); !slices.Equal(c, []shed.Class{shed.Critical, shed.Normal}) {
		t.Fatalf("classes %v at start", c)
	}
	old := d.settings.limits.Load()
	old.AddDropped(0, 7)
	applied, restart, err := p.Reload(load(strings.Replace(budget, "10", "20", 1)+`shedding { enabled = true }`, "best_effort", `"ads.**"`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"limits", "shedding", "route.priority"}; !slices.Equal(applied, want) || len(restart) != 0 {
		t.Fatalf("applied %v (want %v), needs restart %v", applied, want, restart)
	}
	if c := *d.settings.classes.Load(); !slices.Equal(c, []shed.Class{shed.BestEffort, shed.Normal}) {
		t.Fatalf("classes %v after the reload", c)
	}
	set := d.settings.limits.Load()
	if set == old {
		t.Fatal("the budgets were not replaced")
	}
	if _, dropped := set.Usage(); dropped["api"] != 7 {
		t.Fatalf("budget api's dropped count %d after the reload, want 7 carried over", dropped["api"])
	}
	if !d.settings.shedding.Load().Enabled {
		t.Fatal("shedding not enabled by the reload")
	}
	applied, restart, _ = p.Reload(load(strings.Replace(budget, "10", "20", 1)+`shedding { enabled = true }`, "normal", `"other.**"`))
	if len(applied) != 0 || !slices.Equal(restart, []string{"route"}) {
		t.Fatalf("a changed route match: applied %v, needs restart %v", applied, restart)
	}
	if c := *d.settings.classes.Load(); !slices.Equal(c, []shed.Class{shed.BestEffort, shed.Normal}) {
		t.Fatalf("classes %v after a reload that needs a restart", c)
	}
}

// TestReloadRelabel: changed relabel rules of an input or output are applied (a new
// Relabeling for the workers, whose caches then start afresh) without a restart; a reload that
// also changes an input's topics applies neither and asks for a restart.
func TestReloadRelabel(t *testing.T) {
	load := func(inRules, outRules, topic string) *config.Config {
		t.Helper()
		cfg, err := config.Load("t.hcl", []byte(`input "influx" {
  topics = ["`+topic+`"]
`+inRules+`
}
output "kafka" "o" {
  topic = "o"
`+outRules+`
}
`))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	const dropPod = `relabel {
    action = "labeldrop"
    regex  = "pod"
  }`
	const keepName = `relabel {
    action = "labelkeep"
    regex  = "__name__"
  }`
	p, err := New(load("", "", "in"), hclog.NewNullLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	first := p.d.settings.relabel.Load()
	if first.Inputs[0] != nil || first.Outputs[0] != nil {
		t.Fatalf("no rules configured, got %+v", first)
	}
	applied, restart, err := p.Reload(load(dropPod, keepName, "in"))
	if err != nil || !slices.Equal(applied, []string{"relabel"}) || len(restart) != 0 {
		t.Fatalf("applied %v, needs restart %v, %v", applied, restart, err)
	}
	now := p.d.settings.relabel.Load()
	if now == first || now.Inputs[0].Len() != 1 || now.Outputs[0].Len() != 1 {
		t.Fatalf("rules after the reload: %+v", now)
	}
	if applied, restart, _ := p.Reload(load(dropPod, keepName, "in")); len(applied) != 0 || len(restart) != 0 {
		t.Fatalf("the same rules again: applied %v, needs restart %v", applied, restart)
	}
	applied, restart, _ = p.Reload(load("", keepName, "other"))
	if len(applied) != 0 || !slices.Equal(restart, []string{"input"}) || p.d.settings.relabel.Load() != now {
		t.Fatalf("with a topic change: applied %v, needs restart %v", applied, restart)
	}
}
