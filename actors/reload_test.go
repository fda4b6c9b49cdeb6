package actors

import (
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/config"
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
	oldValidator := d.validator.Load()

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
	if want := []string{"coordinator.enabled", "kafka", "pipeline"}; !slices.Equal(restart, want) {
		t.Errorf("needs restart %v, want %v", restart, want)
	}
	if !d.denylist.Load().Match([]byte("secret.key")) || d.denylist.Load().Match([]byte("a.b")) {
		t.Error("the workers' denylist is not the reloaded one")
	}
	if d.validator.Load() == oldValidator {
		t.Error("the validator was not replaced")
	}
	if co := d.coordinator.Load(); co.HotFactor != 2 || !co.Enabled {
		t.Errorf("coordinator tuning %+v: want hot_factor 2 and enabled kept as running", co)
	}
	if d.workers != 4 || len(d.workerBusy) != 4 {
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
