package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := mainErr(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateExample(t *testing.T) {
	code, out, errs := run("validate", "-config", "../../examples/sluice.hcl")
	if code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
}

func TestValidateReportsEveryErrorWithPosition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.hcl")
	src := "input \"opentsdb\" { topics = [\"in\"] }\noutput \"kafka\" \"o\" { topic = \"o\" }\n" +
		"pipeline {\n  workers = 0\n  batch_linger = \"soon\"\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run("validate", "-config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{path + ":4:13: error: Must be at least 1", path + ":5:18: error: Invalid duration",
		`batch_linger = "soon"`, "2 error(s)"} {
		if !strings.Contains(errs, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"run"}, {"validate"}, {"validate", "-config", "/nonexistent.hcl"}} {
		if code, _, errs := run(args...); code != 1 || errs == "" {
			t.Fatalf("%v: exit %d, stderr %q; want 1 and a message", args, code, errs)
		}
	}
}
