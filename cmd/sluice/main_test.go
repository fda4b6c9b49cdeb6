package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/parse/otlp/otlptest"
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

// TestValidatePrintsTheMemoryBudget: validate prints the budget sluice run would compute for
// the partitions given, and the limit the container must exceed: twice the working set, growing
// with the partitions, or pipeline.memory_limit when set.
func TestValidatePrintsTheMemoryBudget(t *testing.T) {
	re := regexp.MustCompile(`memory budget with (\d+) input partitions: working set (\d+) MiB \(.*\), (\d+) MiB more per partition; soft memory limit (\d+) MiB \(([^)]*)\)`)
	budgetOf := func(path string, partitions int) (ws, per, limit int, source string) {
		t.Helper()
		code, out, errs := run("validate", "-config", path, "-partitions", strconv.Itoa(partitions))
		m := re.FindStringSubmatch(out)
		if code != 0 || m == nil || m[1] != strconv.Itoa(partitions) {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
		}
		ws, _ = strconv.Atoi(m[2])
		per, _ = strconv.Atoi(m[3])
		limit, _ = strconv.Atoi(m[4])
		return ws, per, limit, m[5]
	}
	ws0, per, limit0, source := budgetOf("../../examples/sluice.hcl", 0)
	ws100, _, limit100, _ := budgetOf("../../examples/sluice.hcl", 100)
	if per == 0 || ws100-ws0 < 100*(per-1) || ws100-ws0 > 100*per {
		t.Errorf("100 partitions add %d MiB at %d MiB each", ws100-ws0, per)
	}
	if source != "twice the working set" || limit0-2*ws0 > 1 || 2*ws0-limit0 > 1 || limit100 <= limit0 {
		t.Errorf("limits %d and %d MiB for working sets %d and %d (%s)", limit0, limit100, ws0, ws100, source)
	}
	path := filepath.Join(t.TempDir(), "limit.hcl")
	if err := os.WriteFile(path, []byte("input \"opentsdb\" { topics = [\"in\"] }\noutput \"kafka\" \"o\" { topic = \"o\" }\npipeline { memory_limit = \"3GiB\" }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, limit, source := budgetOf(path, 10); limit != 3072 || source != "pipeline.memory_limit" {
		t.Errorf("with memory_limit = 3GiB: %d MiB (%s)", limit, source)
	}
}

func TestValidateReportsEveryErrorWithPosition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.hcl")
	src := "input \"opentsdb\" { topics = [\"in\"] }\noutput \"kafka\" \"o\" { topic = \"o\" }\n" +
		"pipeline {\n  workers = -1\n  batch_linger = \"soon\"\n}\n"
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

// TestDiagnosticsOnceInLineOrder: each problem is reported once (its file:line:column line, the
// source line marked, the detail — not a second "Error:" block), in the order of the file, without
// the errors that only follow from another: an unset env() is one error, not also "value must be
// known" and "Missing topic"; a misspelt setting is "Did you mean", not also the setting missing;
// a value of the wrong type is not also reported by validation.
func TestDiagnosticsOnceInLineOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.hcl")
	src := `kafka { brokers = [env("SLUICE_TEST_UNSET_BROKERS")] }
input "influx" {
  topics     = ["a"]
  batch_sise = 10
}
output "kafka" "x" { topic = env("SLUICE_TEST_UNSET_TOPIC") }
output "kafka" "y" { topik = "t" }
output "remote_write" "z" {
  urls   = ["http://127.0.0.1:8428/api/v1/write"]
  shards = "many"
}
output "remote_wrte" "w" { urls = ["http://127.0.0.1:8428/api/v1/write"] }
route { outputs = ["x", "y", "z", "w"] }
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run("validate", "-config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	heads := regexp.MustCompile(`(?m)^\S+:\d+:\d+: (error|warning): .*$`).FindAllString(errs, -1)
	want := []string{
		path + ":1:20: error: Environment variable not set",
		path + ":4:3: error: Unsupported argument",
		path + ":6:30: error: Environment variable not set",
		path + ":7:22: error: Unsupported argument",
		path + ":10:13: error: Unsuitable value type",
		path + ":12:1: error: Unsupported output type",
	}
	if !slices.Equal(heads, want) {
		t.Fatalf("diagnostics:\n%s\nwant:\n%s\n\nstderr:\n%s", strings.Join(heads, "\n"), strings.Join(want, "\n"), errs)
	}
	for _, s := range []string{`Did you mean "topic"?`, `did you mean "remote_write"?`, `env("SLUICE_TEST_UNSET_TOPIC", "default")`,
		"    7 | output \"kafka\" \"y\" { topik = \"t\" }\n      |                      ^^^^^\n", "6 error(s)"} {
		if !strings.Contains(errs, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errs)
		}
	}
	if strings.Contains(errs, "Error: ") || strings.Contains(errs, "must be known") {
		t.Errorf("a diagnostic is printed twice or a cascade is left:\n%s", errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"run"}, {"validate"}, {"validate", "-config", "/nonexistent.hcl"}} {
		if code, _, errs := run(args...); code != 1 || errs == "" {
			t.Fatalf("%v: exit %d, stderr %q; want 1 and a message", args, code, errs)
		}
	}
}

func runWithStdin(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := decodeCmd(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestDecodePrintsCanonicalDatapoints(t *testing.T) {
	ts := time.Now().Add(-time.Minute).Unix()
	in := fmt.Sprintf("put sys.cpu.user %d 42.5 zone=b host=web01\nput bad\nsys.mem %d 1e3\nput m.x %d NaN a=b\nput old 1000 1 a=b\n", ts, ts, ts)
	code, out, errs := runWithStdin(in, "-format", "opentsdb")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := fmt.Sprintf("sys.cpu.user{host=\"web01\",zone=\"b\"} 42.5 %d000\nsys.mem 1000 %d000\n", ts, ts)
	if out != want {
		t.Fatalf("stdout\n%s\nwant\n%s", out, want)
	}
	for _, s := range []string{"invalid: line 2: unparseable (missing timestamp): put bad", "invalid: non_finite: m.x{a=\"b\"} NaN",
		"invalid: too_old: old{a=\"b\"} 1 1000000", "decoded 2 datapoints, 3 invalid"} {
		if !strings.Contains(errs, s) {
			t.Fatalf("stderr lacks %q:\n%s", s, errs)
		}
	}
	if !strings.HasSuffix(errs, "decoded 2 datapoints, 3 invalid\n") {
		t.Fatalf("stderr does not end with the summary:\n%s", errs)
	}
}

func TestDecodeUsesTheConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.hcl")
	src := `input "influx" {
  topics = ["i"]
  precision = "s"
  default_tags = { source = "telegraf" }
}
output "kafka" "o" {
  topic = "o"
  name_mapping = "prometheus"
}
validation { max_age = "0s" }
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(input, []byte("disk.io,host=a read-bytes=5i,name=\"sda\" 1000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runWithStdin("", "-format", "influx", "-config", path, "-input", input)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if want := "disk_io_read_bytes{host=\"a\",source=\"telegraf\"} 5 1000000\n"; out != want {
		t.Fatalf("stdout %q, want %q\nstderr: %s", out, want, errs)
	}
	if !strings.Contains(errs, "string_field") || !strings.Contains(errs, "decoded 1 datapoints, 1 invalid") {
		t.Fatalf("stderr: %s", errs)
	}
}

func TestDecodeErrors(t *testing.T) {
	if code, _, errs := runWithStdin("", "-format", "csv"); code != 1 || !strings.Contains(errs, "unknown format") {
		t.Fatalf("unknown format: exit %d, %q", code, errs)
	}
	if code, _, _ := runWithStdin("", "-format", "graphite", "-input", "/nonexistent"); code != 1 {
		t.Fatalf("unreadable input: exit %d, want 1", code)
	}
	if code, _, errs := runWithStdin("x 1\n", "-format", "graphite"); code != 0 || !strings.Contains(errs, "decoded 1 datapoints, 0 invalid") {
		t.Fatalf("graphite: exit %d, %q", code, errs)
	}
}

// TestDecodeShowsHistogramsAndMetadata: `sluice decode -format otlp` prints a native histogram's
// buckets with their boundaries, and a metric's type, unit and help.
func TestDecodeShowsHistogramsAndMetadata(t *testing.T) {
	ns := uint64(time.Now().Add(-time.Minute).UnixNano())
	res := otlptest.Resource(otlptest.KVStr("service.name", "api"))
	rec := otlptest.Request(res,
		otlptest.Described(otlptest.Exponential("rpc.duration", "s", 2, otlptest.ExpPoint{TsNs: ns, Count: 12, Sum: 3.5, ZeroCount: 5, ZeroThreshold: 0.001,
			Positive: otlptest.Buckets{Counts: []uint64{4, 2}}, Negative: otlptest.Buckets{Counts: []uint64{1}}}), "RPC time."),
		otlptest.Gauge("mem.used", "By", otlptest.NumberPoint(nil, ns, 7)))
	code, out, errs := runWithStdin(string(rec), "-format", "otlp")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ms := int64(ns / 1e6)
	want := fmt.Sprintf(`rpc.duration_seconds{job="api"} 0 %d # histogram {count:12, sum:3.5, [-2,-1):1, [-0.001,0.001]:5, (1,2]:4, (2,4]:2} # type=histogram unit=seconds help="RPC time."
mem.used_bytes{job="api"} 7 %d # type=gauge unit=bytes
`, ms, ms)
	if out != want {
		t.Fatalf("stdout\n%s\nwant\n%s", out, want)
	}
}

// TestDecodeReportsLinesEscapedAndFails: an invalid line is reported with its line number, binary
// bytes escaped and a long line cut; a run that read nothing valid exits 1, one that read
// something exits 0.
func TestDecodeReportsLinesEscapedAndFails(t *testing.T) {
	now := time.Now().Unix()
	long := "put " + strings.Repeat("x", 10<<20)
	in := fmt.Sprintf("put ok.metric %d 1 host=a\nput bad\n\x00\x01\x1b[31mjunk\n%s\n", now, long)
	code, out, errs := runWithStdin(in, "-format", "opentsdb")
	if code != 0 || !strings.Contains(out, "ok.metric") {
		t.Fatalf("exit %d with a valid line\nstdout: %s", code, out)
	}
	for _, want := range []string{"line 2: unparseable", `line 3: unparseable (missing timestamp): \x00\x01\x1b[31mjunk`, "line 4: "} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if strings.ContainsRune(errs, 0) || strings.Contains(errs, "\x1b") {
		t.Error("binary bytes reached stderr raw")
	}
	if len(errs) > 4096 {
		t.Errorf("a 10 MB line made %d bytes of stderr", len(errs))
	}
	if code, _, errs := runWithStdin("garbage\nmore garbage\n", "-format", "opentsdb"); code != 1 || !strings.Contains(errs, "decoded 0 datapoints, 2 invalid") {
		t.Errorf("nothing valid: exit %d, want 1\n%s", code, errs)
	}
}
