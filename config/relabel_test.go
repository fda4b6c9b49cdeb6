package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestRelabelBlocks: relabel blocks in inputs and outputs take Prometheus' defaults for what
// they leave out and remember what they wrote.
func TestRelabelBlocks(t *testing.T) {
	cfg, err := Load("t.hcl", []byte(`input "influx" {
  topics = ["in"]
  relabel {
    source_labels = ["host"]
    target_label  = "instance"
  }
  relabel {
    action    = "labeldrop"
    regex     = "host"
  }
}
output "kafka" "o" {
  topic = "o"
  relabel {
    action = "hashmod"
    source_labels = ["instance"]
    separator = ""
    target_label = "shard"
    modulus = 8
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Inputs[0].Relabel[0]
	if r.Action != "replace" || r.Separator != ";" || r.Regex != "(.*)" || r.Replacement != "$1" || r.Written["regex"] {
		t.Fatalf("defaults not applied: %+v", r)
	}
	if r := cfg.Inputs[0].Relabel[1]; r.Action != "labeldrop" || !r.Written["regex"] {
		t.Fatalf("second rule %+v", r)
	}
	if o := cfg.Outputs[0].Relabel[0]; o.Separator != "" || o.Modulus != 8 {
		t.Fatalf("an explicit empty separator must stay empty: %+v", o)
	}
}

// TestRelabelErrors: every invalid rule is reported at once, at the setting at fault.
func TestRelabelErrors(t *testing.T) {
	src := `input "influx" {
  topics = ["in"]
  relabel {
    action = "rename"
  }
  relabel {
    regex        = "(unclosed"
    target_label = "x"
  }
  relabel {
    action        = "hashmod"
    source_labels = ["a"]
    target_label  = "h"
  }
}
output "remote_write" "vm" {
  urls = ["http://127.0.0.1:8428/api/v1/write"]
  relabel {
    action        = "keepequal"
    source_labels = ["a"]
    target_label  = "b"
    regex         = "(.*)"
  }
  relabel {
    source_labels = ["a"]
  }
}
`
	heads, out := errorHeads(t, src)
	want := []string{
		`bad.hcl:4:14: error: Invalid relabel rule`,
		`bad.hcl:7:20: error: Invalid relabel rule`,
		`bad.hcl:10:3: error: Invalid relabel rule`,
		`bad.hcl:19:21: error: Invalid relabel rule`,
		`bad.hcl:24:3: error: Invalid relabel rule`,
	}
	if strings.Join(heads, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s\n\n%s", strings.Join(heads, "\n"), strings.Join(want, "\n"), out)
	}
	for _, detail := range []string{`unknown relabel action "rename"`, `missing closing )`, "hashmod requires non-zero modulus",
		"keepequal action requires only 'source_labels' and `target_label`", "replace action requires 'target_label'"} {
		if !strings.Contains(out, detail) {
			t.Fatalf("output lacks %q:\n%s", detail, out)
		}
	}
}

// TestRelabelInControl: a control document's input and output blocks replace those blocks'
// relabel rules and nothing else; a rule's errors are positioned in the document; blocks of
// inputs or outputs the file lacks are errors.
func TestRelabelInControl(t *testing.T) {
	base, err := Load("sluice.hcl", []byte(`input "influx" {
  topics = ["in"]
  relabel {
    action = "labeldrop"
    regex  = "pod"
  }
}
input "opentsdb" {
  topics = ["tsdb"]
  relabel {
    action        = "drop"
    source_labels = ["__name__"]
    regex         = "debug.*"
  }
}
output "kafka" "o" { topic = "o" }
`))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := LoadControl("v2", []byte(`input "influx" {
  relabel {
    source_labels = ["host"]
    target_label  = "instance"
  }
}
output "kafka" "o" {
  relabel {
    action = "labelkeep"
    regex  = "__name__|instance"
  }
}
`), base)
	if err != nil {
		t.Fatal(err)
	}
	if r := merged.Inputs[0].Relabel; len(r) != 1 || r[0].TargetLabel != "instance" || r[0].Regex != "(.*)" || merged.Inputs[0].Topics[0] != "in" {
		t.Fatalf("influx input after the document: %+v", merged.Inputs[0])
	}
	if r := merged.Inputs[1].Relabel; len(r) != 1 || r[0].Regex != "debug.*" || !r[0].Written["regex"] {
		t.Fatalf("the opentsdb input, absent from the document, must keep the file's rules: %+v", r)
	}
	if r := merged.Outputs[0].Relabel; len(r) != 1 || r[0].Action != "labelkeep" || merged.Outputs[0].Topic != "o" {
		t.Fatalf("output after the document: %+v", merged.Outputs[0])
	}
	if r := base.Inputs[0].Relabel; len(r) != 1 || r[0].Action != "labeldrop" || len(base.Outputs[0].Relabel) != 0 {
		t.Fatal("LoadControl changed the base config")
	}
	cleared, err := LoadControl("v3", []byte(`input "influx" {}`), base)
	if err != nil || len(cleared.Inputs[0].Relabel) != 0 {
		t.Fatalf("an input block without rules clears them: %v %+v", err, cleared.Inputs[0])
	}
	for _, c := range []struct{ doc, want string }{
		{"input \"influx\" {\n  relabel {\n    action = \"nope\"\n  }\n}", "v:3:14: error: Invalid relabel rule"},
		{`input "json" {}`, "v:1:1: error: No such input"},
		{`output "remote_write" "o" {}`, "v:1:1: error: No such output"},
		{`input "influx" { topics = ["x"] }`, "v:1:18: error: Unsupported argument"},
	} {
		_, err := LoadControl("v", []byte(c.doc), base)
		var b strings.Builder
		if ce, ok := err.(*Error); ok {
			ce.Write(&b)
		}
		if err == nil || !strings.Contains(b.String()+err.Error(), c.want) {
			t.Errorf("%s: want %q, got %v\n%s", c.doc, c.want, err, b.String())
		}
	}
}

// TestNonFiniteDefaultsPerInput: the Prometheus family keeps NaN and ±Inf unless its input says
// otherwise; other formats follow the validation block.
func TestNonFiniteDefaultsPerInput(t *testing.T) {
	cfg, err := Load("t.hcl", []byte(`input "prometheus" { topics = ["p"] }
input "remote_write" {
  topics           = ["rw"]
  allow_non_finite = false
}
input "otlp" { topics = ["o"] }
input "influx" { topics = ["i"] }
output "kafka" "o" { topic = "o" }`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"prometheus": "true", "remote_write": "false", "otlp": "true", "influx": "nil"}
	for _, in := range cfg.Inputs {
		got := "nil"
		if in.AllowNonFinite != nil {
			got = fmt.Sprint(*in.AllowNonFinite)
		}
		if got != want[in.Format] {
			t.Errorf("input %s: allow_non_finite %s, want %s", in.Format, got, want[in.Format])
		}
	}
}
