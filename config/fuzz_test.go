package config

import (
	"os"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// FuzzLoad mutates configs (seeded with the examples): Load must never panic, and every error it
// reports must carry a position in the file, because `sluice validate` prints file:line:column
// for each.
func FuzzLoad(f *testing.F) {
	for _, path := range []string{"../examples/sluice.hcl", "../examples/all-inputs.hcl"} {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("pipeline { readers = \"x\" }\ninput \"opentsdb\" { topics = [env(\"A\")] }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := Load("fuzz.hcl", src)
		if err == nil {
			if cfg == nil || len(cfg.Inputs) == 0 || len(cfg.Outputs) == 0 {
				t.Fatalf("valid config without inputs or outputs: %+v", cfg)
			}
			return
		}
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("Load returned %T, not *Error: %v", err, err)
		}
		if !e.Diags.HasErrors() {
			t.Fatal("an *Error without error diagnostics")
		}
		for _, d := range e.Diags {
			if d.Severity == hcl.DiagError && (d.Subject == nil || d.Subject.Filename != "fuzz.hcl" || d.Subject.Start.Line < 1) {
				t.Fatalf("error without a position: %s: %s (%+v)", d.Summary, d.Detail, d.Subject)
			}
		}
	})
}
