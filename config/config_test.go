// config_test.go is longer than ~400 lines: it is the table of every validation error the
// configuration can report (f(source, wanted summary)), one row per rule.

package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/sluicehq/sluice/parse/formats"
)

func TestExampleValidates(t *testing.T) {
	cfg, err := LoadFile("../examples/sluice.hcl")
	if err != nil {
		var b bytes.Buffer
		if e, ok := err.(*Error); ok {
			e.Write(&b)
		}
		t.Fatalf("examples/sluice.hcl: %v\n%s", err, b.String())
	}
	if cfg.Pipeline.ShutdownTimeout != 20*time.Second || cfg.Pipeline.BatchBytes != 1<<20 {
		t.Fatalf("durations and sizes not parsed: %+v", cfg.Pipeline)
	}
	if got := cfg.Inputs[0].Topics; len(got) != 1 || got[0] != "metrics.opentsdb" {
		t.Fatalf("input topics %v", got)
	}
	if cfg.Outputs[0].Name != "tsdb" || cfg.Outputs[0].Linger != 200*time.Millisecond {
		t.Fatalf("output %+v", cfg.Outputs[0])
	}
}

// TestEveryExampleValidates: each config in examples/ loads without an error or a warning, so
// that what a user copies works. (The ECS image's, which needs the task's environment, is
// checked with it by cmd/sluice's TestECSTaskDefinition.)
func TestEveryExampleValidates(t *testing.T) {
	paths, _ := filepath.Glob("../examples/*.hcl")
	if len(paths) < 3 {
		t.Fatalf("found only %v", paths)
	}
	for _, path := range paths {
		cfg, err := LoadFile(path)
		if err == nil && cfg.Warnings() != nil {
			err = cfg.Warnings()
		}
		if err != nil {
			var b bytes.Buffer
			if e, ok := err.(*Error); ok {
				e.Write(&b)
			}
			t.Errorf("%s: %v\n%s", path, err, b.String())
		}
	}
}

func TestAllInputsExampleValidates(t *testing.T) {
	cfg, err := LoadFile("../examples/all-inputs.hcl")
	if err != nil {
		var b bytes.Buffer
		if e, ok := err.(*Error); ok {
			e.Write(&b)
		}
		t.Fatalf("examples/all-inputs.hcl: %v\n%s", err, b.String())
	}
	var got []string
	for _, in := range cfg.Inputs {
		got = append(got, in.Format)
	}
	if strings.Join(got, ",") != strings.Join(formats.Names, ",") { // every format, in the table's order
		t.Fatalf("inputs %v, want one of each of %v", got, formats.Names)
	}
	if cfg.DeadLetter == nil || cfg.DeadLetter.Topic != "metrics.dead_letter" {
		t.Fatalf("dead_letter %+v", cfg.DeadLetter)
	}
}

func TestDefaultsApplyToOmittedSettings(t *testing.T) {
	cfg, err := Load("min.hcl", []byte(`
input "opentsdb" { topics = ["in"] }
output "kafka" "out" { topic = "out" }
pipeline { workers = 7 }
coordinator { hot_factor = 2 }
`))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if cfg.Pipeline.Workers != 7 || cfg.Pipeline.Readers != d.Pipeline.Readers || cfg.Pipeline.ShutdownTimeout != 20*time.Second {
		t.Fatalf("pipeline %+v", cfg.Pipeline)
	}
	if cfg.Inputs[0].Group != DefaultInputGroup || cfg.Outputs[0].FlushBytes != 1<<20 {
		t.Fatalf("block defaults not applied: %+v %+v", cfg.Inputs[0], cfg.Outputs[0])
	}
	if co := cfg.Coordinator; !co.Enabled || co.HotFactor != 2 || co.Interval != 5*time.Second || co.MaxSpread != d.Coordinator.MaxSpread {
		t.Fatalf("coordinator defaults not kept beside a set value: %+v", co)
	}
	if cfg.Kafka.Balance != "load" {
		t.Fatalf("kafka.balance default = %q", cfg.Kafka.Balance)
	}
	if cfg.Pipeline.RawBatches != 2*4+7*2 {
		t.Fatalf("raw_batches auto size = %d", cfg.Pipeline.RawBatches)
	}
}

// TestCountsFromCPUs: workers and writers left out come from GOMAXPROCS (at least 4 and 2), set
// ones stay, and the pools follow the counts.
func TestCountsFromCPUs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	src := `
input "opentsdb" { topics = ["in"] }
output "kafka" "out" { topic = "out" }
`
	for _, c := range []struct{ procs, workers, writers int }{{1, 4, 2}, {2, 4, 2}, {6, 6, 2}, {16, 16, 4}, {64, 64, 16}} {
		runtime.GOMAXPROCS(c.procs)
		cfg, err := Load("min.hcl", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		p := cfg.Pipeline
		if p.Readers != 2 || p.Workers != c.workers || p.Writers != c.writers {
			t.Errorf("GOMAXPROCS=%d: readers %d workers %d writers %d, want 2, %d, %d", c.procs, p.Readers, p.Workers, p.Writers, c.workers, c.writers)
		}
		if p.RawBatches != 2*4+c.workers*2 || p.ShardBatches != c.writers*8+c.workers*4 {
			t.Errorf("GOMAXPROCS=%d: pools %d, %d do not follow the counts", c.procs, p.RawBatches, p.ShardBatches)
		}
	}
	runtime.GOMAXPROCS(16)
	cfg, err := Load("set.hcl", []byte(src+"pipeline {\n  workers = 3\n  writers = 1\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Pipeline.Workers != 3 || cfg.Pipeline.Writers != 1 {
		t.Fatalf("set counts were replaced: workers %d writers %d", cfg.Pipeline.Workers, cfg.Pipeline.Writers)
	}
	if _, err := Load("neg.hcl", []byte(src+"pipeline {\n  workers = -1\n}\n")); err == nil {
		t.Fatal("workers = -1 was accepted")
	}
}

func TestEnvFunction(t *testing.T) {
	t.Setenv("SLUICE_TEST_TOPIC", "from-env")
	cfg, err := Load("env.hcl", []byte(`
input "opentsdb" { topics = [env("SLUICE_TEST_TOPIC", "x")] }
output "kafka" "out" { topic = env("SLUICE_TEST_UNSET_VAR", "fallback") }
pipeline { readers = env("SLUICE_TEST_UNSET_VAR", "3") }
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Inputs[0].Topics[0] != "from-env" || cfg.Outputs[0].Topic != "fallback" || cfg.Pipeline.Readers != 3 {
		t.Fatalf("env not applied: %v %q %d", cfg.Inputs[0].Topics, cfg.Outputs[0].Topic, cfg.Pipeline.Readers)
	}
	_, err = Load("env.hcl", []byte(`
input "opentsdb" { topics = [env("SLUICE_TEST_UNSET_VAR")] }
output "kafka" "out" { topic = "o" }
`))
	if err == nil || !strings.Contains(err.Error(), "SLUICE_TEST_UNSET_VAR is not set") {
		t.Fatalf("unset variable without default: %v", err)
	}
}

func TestThreeMistakesThreePositionedErrors(t *testing.T) {
	src := `input "opentsdb" {
  topics = ["in"]
}
pipeline {
  reader  = 2
  shutdown_timeout = "20 seconds"
}
output "kafka" "out" {
  topic  = "out"
  shards = -1
}
`
	heads, out := errorHeads(t, src)
	want := []string{
		`bad.hcl:5:3: error: Unsupported argument`,
		`bad.hcl:6:22: error: Invalid duration`,
		`bad.hcl:10:12: error: Negative shards`,
	}
	if len(heads) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(heads), len(want), out)
	}
	for i := range want {
		if heads[i] != want[i] {
			t.Fatalf("error %d is %q, want %q\n%s", i, heads[i], want[i], out)
		}
	}
	for _, snippet := range []string{`Did you mean "readers"?`, `shutdown_timeout = "20 seconds"`, `shards = -1`} {
		if !strings.Contains(out, snippet) {
			t.Fatalf("output lacks %q:\n%s", snippet, out)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	f := func(src, wantSummary string) {
		t.Helper()
		_, err := Load("t.hcl", []byte(src))
		if err == nil || !strings.Contains(err.Error(), wantSummary) {
			t.Fatalf("%s\nwant an error containing %q, got %v", src, wantSummary, err)
		}
	}
	const ok = `input "opentsdb" { topics = ["in"] }` + "\n" + `output "kafka" "o" { topic = "o" }` + "\n"
	f(ok+`log { level = "loud" }`, "Invalid log level")
	f(ok+`kafka { version = "0.10.2.0" }`, "Kafka version too old")
	f(ok+`kafka { brokers = ["nohost"] }`, "Invalid broker address")
	f(ok+`kafka {
  session_timeout = "1s"
  heartbeat_interval = "500ms"
}`, "Heartbeat too slow")
	f(ok+`kafka { rebalance_timeout = "3500ms" }`, "Rebalance timeout too short")
	f(ok+`kafka { instance_id = "host 1" }`, "Invalid instance id")
	f(ok+`kafka {
  instance_id = "host-1"
  version = "2.2.0"
}`, "Kafka version too old")
	f(ok+`denylist { globs = ["a..b"] }`, "Invalid glob")
	f(ok+`pipeline { batch_bytes = "1 potato" }`, "Invalid size")
	f(ok+`pipeline { memory_limit = "lots" }`, "Invalid size")
	f(ok+`pipeline { memory_limit = "1MiB" }`, "Size out of range")
	f(ok+`output "kafka" "p" { topic = "p" }`, "Several outputs and no route")
	f(ok+`output "kafka" "o" { topic = "p" }`+"\n"+`route { outputs = ["o"] }`, "Duplicate output name")
	f(ok+`route { outputs = ["nope"] }`, "Unknown output")
	f(ok+`route { outputs = ["o", "o"] }`, "Output named twice")
	f(ok+`route { outputs = [] }`, "No outputs")
	f(ok+`route {
  match = []
  outputs = ["o"]
}`, "Empty match")
	f(ok+`route {
  match = ["a..b"]
  outputs = ["o"]
}`, "Invalid glob")
	f(ok+`route { outputs = ["o"] }`+"\n"+`route {
  match = ["ads.**"]
  outputs = ["o"]
}`, "Unreachable route")
	f(ok+`route {
  match = ["**"]
  outputs = ["o"]
}`+"\n"+`route { outputs = ["o"] }`, "Unreachable route")
	f(ok+`output "remote_write" "vm" {}`+"\n"+`route { outputs = ["o", "vm"] }`, "No URLs")
	f(ok+`output "remote_write" "vm" { urls = ["ftp://x/y"] }`+"\n"+`route { outputs = ["o", "vm"] }`, "Invalid URL")
	f(ok+`output "remote_write" "vm" {
  urls = ["http://x/api/v1/write"]
  topic = "t"
}`+"\n"+`route { outputs = ["o", "vm"] }`, "Setting for another output type")
	f(ok+`output "kafka" "k2" {
  topic = "t"
  concurrency = 3
}`+"\n"+`route { outputs = ["o", "k2"] }`, "Setting for another output type")
	f(ok+`output "remote_write" "vm" {
  urls = ["http://x/api/v1/write"]
  headers = { "Content-Encoding" = "gzip" }
}`+"\n"+`route { outputs = ["o", "vm"] }`, "Reserved header")
	f(ok+`output "otlp" "col" {}`+"\n"+`route { outputs = ["o", "col"] }`, "No URLs")
	f(ok+`output "otlp" "col" {
  urls     = ["http://collector:4318/v1/metrics"]
  protocol = "2.0"
}`+"\n"+`route { outputs = ["o", "col"] }`, "protocol applies to kafka and remote_write outputs only")
	f(ok+`output "otlp" "col" {
  urls    = ["http://collector:4318/v1/metrics"]
  headers = { "Content-Encoding" = "zstd" }
}`+"\n"+`route { outputs = ["o", "col"] }`, "set by the otlp protocol")
	f(ok+`output "otlp" "col" {
  urls  = ["http://collector:4318/v1/metrics"]
  topic = "t"
}`+"\n"+`route { outputs = ["o", "col"] }`, "topic applies to kafka outputs only")
	f(ok+`output "remote_write" "vm" {
  urls = ["http://x/api/v1/write"]
  bearer_token = "t"
  basic_auth {
    username = "u"
    password = "p"
  }
}`+"\n"+`route { outputs = ["o", "vm"] }`, "Two kinds of credentials")
	f(ok+`output "remote_write" "vm" {
  urls = ["http://x/api/v1/write"]
  concurrency = 0
}`+"\n"+`route { outputs = ["o", "vm"] }`, "Invalid concurrency")
	f(ok+`output "remote_write" "vm" {
  urls = ["http://x/api/v1/write"]
  retry {
    min_backoff = "2s"
    max_backoff = "1s"
  }
}`+"\n"+`route { outputs = ["o", "vm"] }`, "max_backoff below min_backoff")
	f(ok+`output "remote_write" "vm" {
  urls = ["http://x/api/v1/write"]
  breaker { failures = 0 }
}`+"\n"+`route { outputs = ["o", "vm"] }`, "Must be at least 1")
	f(ok+`output "remote_write" "vm" {
  urls = ["http://x/api/v1/write"]
  name_mapping = "prometheus"
}`+"\n"+`route { outputs = ["o", "vm"] }`, "Outputs disagree on name_mapping")
	f(`output "kafka" "o" { topic = "o" }`, "No input")
	f(`input "csv" { topics = ["x"] }`+"\n"+`output "kafka" "o" { topic = "o" }`, "Unsupported input format")
	f(ok+`input "graphite" { topics = ["in"] }`, "Topic in two inputs")
	f(ok+`input "graphite" {
  topics = ["g"]
  precision = "s"
}`, "Setting for another format")
	f(ok+`input "influx" {
  topics = ["i"]
  precision = "minutes"
}`, "Invalid input setting")
	f(ok+`input "otlp" {
  topics = ["t"]
  encoding = "otlp_xml"
}`, "Unknown OTLP encoding")
	f(ok+`input "otlp" {
  topics = ["t"]
  translation = "camel"
}`, "Unknown name translation")
	f(ok+`output "kafka" "eos" {
  topic = "e"
  delivery = "twice"
}`, "Unknown delivery")
	f(ok+`output "kafka" "eos" {
  topic = "e"
  delivery = "exactly_once"
}
output "kafka" "eos2" {
  topic = "e2"
  delivery = "exactly_once"
}`, "Two exactly-once outputs")
	f(ok+`output "remote_write" "rw" {
  urls = ["http://127.0.0.1:1/api/v1/write"]
  delivery = "exactly_once"
}`, "Setting for another output type")
	f(ok+`input "remote_write" {
  topics = ["r"]
  isolation_level = "read_some"
}`, "t.hcl:5,21-32: Unknown isolation_level")
	f(ok+`input "graphite" {
  topics = ["g"]
  translation = "keep"
}`, "Setting for another format")
	f(ok+`input "json" {
  topics = ["j"]
  default_tags = { source = "" }
}`, "Empty default tag")
	f(`input "opentsdb" { topics = ["in"] }`+"\n"+`output "kafka" "o" {
  topic = "o"
  name_mapping = "lower"
}`, "Invalid name_mapping")
	f(ok+`dead_letter { topic = "in" }`, "Dead-letter topic is an input")
	f(ok+`dead_letter { topic = "o" }`, "Dead-letter topic is an output")
	f(ok+`input "opentsdb" { topics = ["x"] }`, "Duplicate input")
	f(`input "opentsdb" { topics = ["in"] }`, "No output")
	f(ok+`pipeline { readers = "many" }`, "Unsuitable value type")
	f("pipeline {", "Unclosed configuration block")
	f(ok+`kafka { balance = "random" }`, "Unknown balance strategy")
	f(ok+`coordinator { hot_factor = 1 }`, "hot_factor too small")
	f(ok+`coordinator { max_spread = 0 }`, "Must be at least 1")
	f(ok+`coordinator { interval = "1ms" }`, "interval")
	f(ok+`denylist { file = "/nonexistent/deny.txt" }`, "Unusable denylist file")
	f(ok+`kafka {
  sasl {
    mechanism = "GSSAPI"
    username  = "u"
    password  = "p"
  }
}`, "Unknown SASL mechanism")
	f(ok+`kafka {
  sasl {
    mechanism = "PLAIN"
    username  = "u"
  }
}`, "No SASL password")
	f(ok+`kafka {
  tls { ca_file = "/nonexistent/ca.pem" }
}`, "t.hcl:4,19-40: Unreadable CA file")
	f(ok+`kafka {
  tls { cert_file = "client.pem" }
}`, "No key file")
	f(ok+`limits { window = "10ms" }`, "Duration too short")
	f(ok+`limits {
  budget "a" { max_series = 0 }
}`, "t.hcl:4,29-30: Must be at least 1")
	f(ok+`limits {
  budget "a" {}
}`, "Missing required argument")
	f(ok+`limits {
  budget "a" { max_series = 5 }
  budget "a" { max_series = 6 }
}`, "t.hcl:5,3-13: Duplicate budget name")
	f(ok+`limits {
  budget "a" {
    match      = ["a..b"]
    max_series = 5
  }
}`, "t.hcl:5,18-26: Invalid glob")
	f(ok+`limits {
  budget "a" {
    match      = []
    max_series = 5
  }
}`, "Empty match")
	f(ok+`route {
  outputs  = ["o"]
  priority = "urgent"
}`, "t.hcl:5,14-22: Unknown priority")
	f(ok+`shedding { max_lag = "soon" }`, "Invalid duration")
	f(ok+`shedding { interval = "1ms" }`, "Duration too short")
}

// TestLimitsAndSheddingDefaults: omitted budget and route settings get their defaults.
func TestLimitsAndSheddingDefaults(t *testing.T) {
	cfg, err := Load("t.hcl", []byte(`input "opentsdb" { topics = ["in"] }
output "kafka" "o" { topic = "o" }
route { outputs = ["o"] }
limits {
  budget "team" {
    per_tag    = "team"
    max_series = 100
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.Window != time.Hour || cfg.Limits.Budgets[0].MaxValues != DefaultBudgetValues || cfg.Routes[0].Priority != PriorityNormal {
		t.Fatalf("limits %+v, budget %+v, route %+v", cfg.Limits, cfg.Limits.Budgets[0], cfg.Routes[0])
	}
	if s := cfg.Shedding; s.Enabled || s.MaxLag != 30*time.Second || s.For != 30*time.Second || s.Interval != 10*time.Second {
		t.Fatalf("shedding %+v", s)
	}
}

// TestDenylistFile: globs from the file follow the block's, comments and blank lines are
// skipped, a relative path is the config file's directory, and a bad glob names its line.
func TestDenylistFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "deny.txt"), []byte("# secrets\nsecret.**\n\n  test.*   # tests\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const base = `input "opentsdb" { topics = ["in"] }` + "\n" + `output "kafka" "o" { topic = "o" }` + "\n"
	cfg, err := Load(filepath.Join(dir, "sluice.hcl"), []byte(base+`denylist {
  globs = ["debug.**"]
  file  = "deny.txt"
}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"debug.**", "secret.**", "test.*"}; !slices.Equal(cfg.Denylist.All, want) {
		t.Fatalf("denylist = %q, want %q", cfg.Denylist.All, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "deny.txt"), []byte("ok.*\n\na..b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(filepath.Join(dir, "sluice.hcl"), []byte(base+`denylist { file = "deny.txt" }`))
	if err == nil || !strings.Contains(err.Error(), "deny.txt:3:") || !strings.Contains(err.Error(), "sluice.hcl:3,") {
		t.Fatalf("a bad glob on line 3 of the file: %v; want the file's line and the attribute's position", err)
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int{"0": 0, "512": 512, "1KiB": 1024, "1MiB": 1 << 20, "2 MB": 2_000_000, "3GiB": 3 << 30, "10B": 10} {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Fatalf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "MiB", "-1KiB", "1.5MiB", "1TB"} {
		if _, err := ParseSize(s); err == nil {
			t.Fatalf("ParseSize(%q): want an error", s)
		}
	}
}

// TestRoutesAndOutputs: a full multi-output config loads with every default and derived value,
// the route positions point at the right block, and an output no route uses is a warning with
// its position, not an error.
func TestRoutesAndOutputs(t *testing.T) {
	src := `input "opentsdb" { topics = ["in"] }
output "kafka" "goku_ads" { topic = "ads.shards" }
output "remote_write" "vm" {
  urls        = ["http://127.0.0.1:8428/api/v1/write", "http://127.0.0.1:8429/api/v1/write"]
  concurrency = 8
  bearer_token = "secret"
  retry { max_elapsed = "1m" }
}
output "remote_write" "spare" { urls = ["http://127.0.0.1:9090/api/v1/write"] }
route {
  match   = ["ads.**", "pinner.*.latency"]
  outputs = ["goku_ads", "vm"]
}
route { outputs = ["vm"] }
`
	cfg, err := Load("r.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	vm := cfg.Output("vm")
	if vm == nil || vm.Concurrency != 8 || vm.Timeout != 30*time.Second || vm.MaxBatchSamples != 10000 ||
		vm.MaxBatchBytes != 4<<20 || vm.Retry.MaxElapsed != time.Minute || vm.Retry.MinBackoff != 100*time.Millisecond ||
		vm.Breaker.Failures != 5 || vm.Breaker.CoolDown != 10*time.Second {
		t.Fatalf("remote_write output not defaulted: %+v", vm)
	}
	if k := cfg.Output("goku_ads"); k.Retry.MaxElapsed != 0 || k.Breaker != nil || k.Shards != 0 {
		t.Fatalf("kafka output: %+v", k)
	}
	if len(cfg.Routes) != 2 || !cfg.Routes[1].CatchAll() || cfg.Routes[0].CatchAll() {
		t.Fatalf("routes %+v", cfg.Routes)
	}
	w := cfg.Warnings()
	if w == nil || len(w.Diags) != 1 {
		t.Fatalf("want one warning, got %v", w)
	}
	var b bytes.Buffer
	w.Write(&b)
	if !strings.HasPrefix(b.String(), `r.hcl:9:1: warning: Output no route uses`) || !strings.Contains(b.String(), `"spare"`) {
		t.Fatalf("warning:\n%s", b.String())
	}
	// An error in the second route block points at that block's attribute.
	_, err = Load("r.hcl", []byte(strings.Replace(src, `route { outputs = ["vm"] }`, `route { outputs = ["vn"] }`, 1)))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	// The warning about "spare" (line 9) comes first: diagnostics are in the order of the file.
	d := ce.Diags.Errs()[0].(*hcl.Diagnostic)
	if r := d.Subject; d.Summary != "Unknown output" || r.Start.Line != 14 || r.Start.Column != 19 {
		t.Fatalf("error %s at %v", d.Summary, r)
	}
	a := BasicAuth{Username: "u", Password: "hunter2"}
	if s := fmt.Sprintf("%v %+v %#v", a, a, &a); strings.Contains(s, "hunter2") {
		t.Fatalf("password printed: %s", s)
	}
}

// TestMemoryLimit: "0" (the default) leaves the limit to the computed budget; a size sets it.
func TestMemoryLimit(t *testing.T) {
	const ok = `input "opentsdb" { topics = ["in"] }` + "\n" + `output "kafka" "o" { topic = "o" }` + "\n"
	cfg, err := Load("t.hcl", []byte(ok))
	if err != nil || cfg.Pipeline.MemoryLimit != 0 {
		t.Fatalf("default: limit %d, error %v; want 0 (computed)", cfg.Pipeline.MemoryLimit, err)
	}
	cfg, err = Load("t.hcl", []byte(ok+`pipeline { memory_limit = "512MiB" }`))
	if err != nil || cfg.Pipeline.MemoryLimit != 512<<20 {
		t.Fatalf("512MiB: limit %d, error %v", cfg.Pipeline.MemoryLimit, err)
	}
}

func TestGroupTimeouts(t *testing.T) {
	const ok = `input "opentsdb" { topics = ["in"] }` + "\n" + `output "kafka" "o" { topic = "o" }` + "\n"
	cfg, err := Load("g.hcl", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Kafka
	if k.SessionTimeout != 10*time.Second || k.HeartbeatInterval != 3*time.Second || k.RebalanceTimeout != 8*time.Second || k.InstanceID != "" {
		t.Fatalf("defaults: %+v", k)
	}
	if w := cfg.Warnings(); w != nil {
		t.Fatalf("the defaults warn: %v", w)
	}
	cfg, err = Load("g.hcl", []byte(ok+`kafka {
  rebalance_timeout = "30s"
  instance_id = "ip-10-0-0-1.ec2"
}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.RebalanceTimeout != 30*time.Second || cfg.Kafka.InstanceID != "ip-10-0-0-1.ec2" {
		t.Fatalf("set: %+v", cfg.Kafka)
	}
	w := cfg.Warnings()
	if w == nil || len(w.Diags) != 1 || w.Diags[0].Summary != "Rebalance timeout not below the session timeout" || w.Diags[0].Subject.Start.Line != 4 {
		t.Fatalf("want the rebalance warning at line 4, got %v", w)
	}
}

// TestLoadControl: a control document replaces the file's blocks it holds and keeps the others;
// its errors point into the document; it may not hold other blocks, nor change a route's match.
func TestLoadControl(t *testing.T) {
	base, err := Load("sluice.hcl", []byte(`input "opentsdb" { topics = ["in"] }
output "kafka" "o" { topic = "o" }
route {
  match   = ["debug.**"]
  outputs = ["o"]
}
route { outputs = ["o"] }
denylist { globs = ["test.**"] }
validation { max_tags = 8 }
control { topic = "ctl" }
`))
	if err != nil {
		t.Fatal(err)
	}
	if base.Control.Topic != "ctl" || base.Control.Timeout != 10*time.Second {
		t.Fatalf("control block %+v", base.Control)
	}
	merged, err := LoadControl("v3", []byte(`denylist { globs = ["drop.**"] }
limits {
  budget "all" { max_series = 1000 }
}
route {
  match    = ["debug.**"]
  outputs  = ["o"]
  priority = "best_effort"
}
route { outputs = ["o"] }
`), base)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(merged.Denylist.All, []string{"drop.**"}) || merged.Validation.MaxTags != 8 || merged.Limits.Budgets[0].MaxSeries != 1000 ||
		merged.Routes[0].Priority != PriorityBestEffort || merged.Routes[1].Priority != PriorityNormal {
		t.Fatalf("merged: denylist %v, max_tags %d, limits %+v, priorities %s %s", merged.Denylist.All, merged.Validation.MaxTags,
			merged.Limits, merged.Routes[0].Priority, merged.Routes[1].Priority)
	}
	if !slices.Equal(base.Denylist.All, []string{"test.**"}) || base.Routes[0].Priority != PriorityNormal {
		t.Fatal("LoadControl changed the base config")
	}
	for _, c := range []struct{ doc, want string }{
		{`denylist { globs = ["a..b"] }`, "v:1:20: error: Invalid glob"},
		{`output "kafka" "o" { topic = "x" }`, "v:1:22: error: Unsupported argument"},
		{`kafka { brokers = ["x:1"] }`, "v:1:1: error: Unsupported block type"},
		{`validation { max_tags = -1 }`, "v:1:25: error: Negative max_tags"},
		{`route { outputs = ["o"] }`, "Routes differ from the file's"},
		{"route {\n  match = [\"other.**\"]\n  outputs = [\"o\"]\n}\nroute { outputs = [\"o\"] }", "v:1:1: error: Route differs from the file's"},
		{`shedding { max_lag = "1ms" }`, "v:1:22: error: Duration too short"},
		{`denylist {`, "Unclosed configuration block"},
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

// errorHeads loads src as bad.hcl, which must fail, and returns the diagnostics' first lines
// ("bad.hcl:L:C: error: summary") in order, and the whole text.
func errorHeads(t *testing.T, src string) (heads []string, out string) {
	t.Helper()
	_, err := Load("bad.hcl", []byte(src))
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("want *Error, got %v", err)
	}
	var b bytes.Buffer
	e.Write(&b)
	out = b.String()
	return regexp.MustCompile(`(?m)^bad\.hcl:\d+:\d+: error: .*$`).FindAllString(out, -1), out
}
