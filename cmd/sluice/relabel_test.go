package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const relabelConfig = `input "influx" {
  topics = ["metrics.influx"]
  relabel {
    source_labels = ["host"]
    target_label  = "instance"
  }
  relabel {
    action = "labeldrop"
    regex  = "host"
  }
  relabel {
    action        = "keep"
    source_labels = ["__name__"]
    regex         = "cpu_.*"
  }
}
output "kafka" "shards" {
  topic = "metrics.shards"
  relabel {
    action = "labelkeep"
    regex  = "__name__|instance"
  }
}
`

func relabelRun(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.hcl")
	if err := os.WriteFile(path, []byte(relabelConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := relabelCmd(append([]string{"-config", path}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestRelabelDebugger: each series' labels after every rule and the verdict, from canonical
// lines or raw lines of a format, for an input's or an output's rules.
func TestRelabelDebugger(t *testing.T) {
	code, out, errs := relabelRun(t, "cpu_usage{dc=\"eu\",host=\"web-1\"} 1 2\nmem_free{host=\"db\"}\n")
	want := `# input "influx", relabel rules: 3
cpu_usage{dc="eu",host="web-1"}
   1 replace   {__name__="cpu_usage",dc="eu",host="web-1",instance="web-1"}
   2 labeldrop {__name__="cpu_usage",dc="eu",instance="web-1"}
   3 keep      {__name__="cpu_usage",dc="eu",instance="web-1"}
  => cpu_usage{dc="eu",instance="web-1"}
mem_free{host="db"}
   1 replace   {__name__="mem_free",host="db",instance="db"}
   2 labeldrop {__name__="mem_free",instance="db"}
   3 keep      dropped
  => dropped
`
	if code != 0 || out != want || !strings.Contains(errs, "2 series: 1 kept, 1 dropped") {
		t.Fatalf("exit %d\n%s\nwant\n%s\nstderr: %s", code, out, want, errs)
	}
	code, out, _ = relabelRun(t, "cpu,host=web-1 usage=1,idle=2 1700000000000000000\n", "-format", "influx", "-output", "shards")
	if code != 0 || !strings.Contains(out, "cpu_idle{host=\"web-1\"}\n   1 labelkeep {__name__=\"cpu_idle\"}\n  => cpu_idle\n") {
		t.Fatalf("raw influx through the output's rules: exit %d\n%s", code, out)
	}
	code, _, errs = relabelRun(t, "ok{a=\"1\"}\nbad{x=1}\n")
	if code != 1 || !strings.Contains(errs, "line 2: tag x: the value must be a quoted string") {
		t.Fatalf("an unreadable line: exit %d, stderr %s", code, errs)
	}
	for _, args := range [][]string{{"-input", "json"}, {"-output", "nope"}, {"-input", "influx", "-output", "shards"}} {
		if code, _, errs := relabelRun(t, "", args...); code != 1 || !strings.Contains(errs, "sluice relabel:") {
			t.Fatalf("%v: exit %d, stderr %s", args, code, errs)
		}
	}
}

// TestDecodeAppliesInputRelabel: decode -config runs the input's rules before validation.
func TestDecodeAppliesInputRelabel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.hcl")
	if err := os.WriteFile(path, []byte(relabelConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := decodeCmd([]string{"-config", path, "-format", "influx"}, strings.NewReader("cpu,host=web-1 usage=1\nmem,host=a free=1\n"), &out, &errb)
	if code != 0 || !strings.HasPrefix(out.String(), `cpu_usage{instance="web-1"} 1 `) || !strings.Contains(errb.String(), `invalid: relabel: mem_free{host="a"}`) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
}
