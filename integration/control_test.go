package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/control"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// metricOf reads one metric from a process's /metrics (-1 when it is not there).
func metricOf(t *testing.T, addr, name string) float64 {
	t.Helper()
	f := sluicetest.Scrape(t, addr)[name]
	if f == nil {
		return -1
	}
	return sluicetest.Sum(f, nil)
}

// sluiceTool runs a sluice command to completion and returns its exit code, stdout and stderr.
func sluiceTool(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	bin := sluicetest.Binary(t)
	t0 := time.Now()
	defer func() { t.Logf("sluice %s took %s", args[0], time.Since(t0).Round(10*time.Millisecond)) }()
	cmd := exec.Command(bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestControlTopicAcrossFleet: three processes follow one control topic. A denylist published
// with `sluice control set` is applied by all three within 5 s and the metric stops on the
// output; a broken document (`set` refuses it; written to the topic anyway) is rejected by every
// task while ingestion goes on with the last good version; relabel rules in a document relabel
// the series every task had cached; a restarted process comes up with the current version. Default session and rebalance timeouts.
func TestControlTopicAcrossFleet(t *testing.T) {
	const in, out, ctl = "ctl.in", "ctl.out", "ctl.settings"
	c := kafkatest.Start(t, in, 6, out, 4)
	cfgPath := sluicetest.WriteConfig(t, fmt.Sprintf(`
log { level = "info" }
kafka { brokers = [%q] }
input "opentsdb" {
  topics = [%q]
  group  = "ctl-fleet"
}
output "kafka" "tsdb" {
  topic  = %q
  shards = 4
  linger = "20ms"
}
control { topic = %q }
`, c.Addrs[0], in, out, ctl))
	procs := make([]*sluicetest.Proc, 3)
	addrs := make([]string, 3)
	for i := range procs {
		procs[i] = sluicetest.Run(t, "run", "-config", cfgPath)
	}
	for i, p := range procs {
		addrs[i] = p.HTTPAddr(t)
		kafkatest.WaitFor(t, 30*time.Second, "the boot read of the control topic", func() bool {
			// kfake may create the topic on the first metadata request, as brokers with
			// auto.create.topics.enable do.
			return p.Last("the control topic does not exist: starting from the config file; it is read once it does") != nil ||
				p.Last("no control document yet: starting from the config file") != nil
		})
	}

	// Traffic: every 100 ms, one line of each of 10 series of keep.m and of drop.me.
	var stopTraffic atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := 0; !stopTraffic.Load(); seq++ {
			var lines []string
			ms := time.Now().UnixMilli()
			for s := 0; s < 10; s++ {
				lines = append(lines, fmt.Sprintf("put keep.m %d %d host=h%d", ms, seq, s), fmt.Sprintf("put drop.me %d %d host=h%d", ms, seq, s))
			}
			c.Produce(t, in, lines, len(lines))
			time.Sleep(100 * time.Millisecond)
		}
	}()
	defer func() { stopTraffic.Store(true); wg.Wait() }()
	count := func(metric string, after int64) int {
		n := 0
		for _, p := range c.ReadOutput(t, out) {
			if p.Metric == metric && p.Timestamp > after {
				n++
			}
		}
		return n
	}
	kafkatest.WaitFor(t, time.Minute, "both metrics on the output", func() bool { return count("drop.me", 0) > 0 && count("keep.m", 0) > 0 })

	// 1. A denylist, published with sluice control set, on every task within 5 s.
	doc := filepath.Join(t.TempDir(), "deny.hcl")
	os.WriteFile(doc, []byte("denylist { globs = [\"drop.**\"] }\n"), 0o600)
	set := time.Now()
	if code, stdout, stderr := sluiceTool(t, "control", "set", "-config", cfgPath, "-file", doc); code != 0 || !strings.Contains(stdout, "published version 1") {
		t.Fatalf("control set: exit %d\n%s%s", code, stdout, stderr)
	}
	for i, a := range addrs {
		kafkatest.WaitFor(t, 5*time.Second-time.Since(set), fmt.Sprintf("process %d applying version 1 within 5 s", i), func() bool {
			return metricOf(t, a, "sluice_control_version") == 1
		})
	}
	applied := time.Since(set)
	cut := time.Now().UnixMilli()
	time.Sleep(2 * time.Second) // datapoints produced after every task applied it
	if n := count("drop.me", cut); n != 0 {
		t.Fatalf("%d datapoints of drop.me on the output after every task applied the denylist", n)
	}
	if count("keep.m", cut) == 0 {
		t.Fatal("keep.m stopped too")
	}

	next := filepath.Join(t.TempDir(), "next.hcl")
	os.WriteFile(next, []byte("denylist { globs = [\"drop.**\", \"noisy.**\"] }\n"), 0o600)
	if code, stdout, _ := sluiceTool(t, "control", "diff", "-config", cfgPath, "-file", next); code != 0 ||
		!strings.Contains(stdout, `-denylist { globs = ["drop.**"] }`) || !strings.Contains(stdout, `+denylist { globs = ["drop.**", "noisy.**"] }`) {
		t.Fatalf("control diff: exit %d\n%s", code, stdout)
	}

	// 2. A broken document: set refuses it and publishes nothing...
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	os.WriteFile(bad, []byte("denylist { globs = [\"drop..x\"] }\n"), 0o600)
	code, _, stderr := sluiceTool(t, "control", "set", "-config", cfgPath, "-file", bad)
	if code != 1 || !strings.Contains(stderr, "bad.hcl:1:20: error: Invalid glob") || !strings.Contains(stderr, "nothing was published") {
		t.Fatalf("control set of a broken document: exit %d\n%s", code, stderr)
	}
	// ...and when written anyway (another tool, an older sluice), every task rejects it.
	client, err := sarama.NewClient(c.Addrs, c.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, _, err := control.Publish(client, ctl, 2, []byte("denylist { globs = [\"drop..x\"] }\n")); err != nil {
		t.Fatal(err)
	}
	for i, a := range addrs {
		kafkatest.WaitFor(t, 5*time.Second, fmt.Sprintf("process %d rejecting version 2", i), func() bool {
			return metricOf(t, a, "sluice_control_rejected_total") == 1
		})
		if v := metricOf(t, a, "sluice_control_version"); v != 1 {
			t.Fatalf("process %d runs version %g after a broken version 2, want 1", i, v)
		}
	}
	cut = time.Now().UnixMilli()
	kafkatest.WaitFor(t, 30*time.Second, "ingestion going on after the broken document", func() bool { return count("keep.m", cut) > 0 })
	if n := count("drop.me", cut); n != 0 {
		t.Fatalf("%d datapoints of drop.me after the broken document: the last good version must stay", n)
	}
	if code, stdout, _ := sluiceTool(t, "control", "history", "-config", cfgPath); code != 0 ||
		!strings.Contains(stdout, "version 2\t") || !strings.Contains(stdout, "invalid: 1:20: Invalid glob") || !strings.Contains(stdout, "version 1\t") {
		t.Fatalf("control history: exit %d\n%s", code, stdout)
	}
	if code, stdout, _ := sluiceTool(t, "control", "get", "-config", cfgPath); code != 0 || !strings.Contains(stdout, `"drop.**"`) {
		t.Fatalf("control get: exit %d\n%s", code, stdout)
	}

	// 3. Relabel rules in a document: every task relabels the series it already had cached
	// (keep.m's) at its next batch.
	rl := filepath.Join(t.TempDir(), "relabel.hcl")
	os.WriteFile(rl, []byte("denylist { globs = [\"drop.**\"] }\ninput \"opentsdb\" {\n  relabel {\n    target_label = \"stage\"\n    replacement  = \"v3\"\n  }\n}\n"), 0o600)
	if code, stdout, stderr := sluiceTool(t, "control", "set", "-config", cfgPath, "-file", rl); code != 0 || !strings.Contains(stdout, "published version 3") {
		t.Fatalf("control set of relabel rules: exit %d\n%s%s", code, stdout, stderr)
	}
	for i, a := range addrs {
		kafkatest.WaitFor(t, 5*time.Second, fmt.Sprintf("process %d applying version 3", i), func() bool {
			return metricOf(t, a, "sluice_control_version") == 3
		})
	}
	cut = time.Now().UnixMilli()
	time.Sleep(2 * time.Second)
	relabeled, stale := 0, 0
	for _, p := range c.ReadOutput(t, out) {
		if p.Metric != "keep.m" || p.Timestamp <= cut {
			continue
		}
		if p.Labels["stage"] == "v3" {
			relabeled++
		} else {
			stale++
		}
	}
	if relabeled == 0 || stale != 0 {
		t.Fatalf("after version 3: %d datapoints of keep.m relabeled, %d without the new rule's label", relabeled, stale)
	}

	// 4. A restarted process comes up with the current version.
	if code, _ := procs[1].Stop(t); code != 0 {
		t.Fatalf("process 1 exited %d on SIGTERM", code)
	}
	procs[1] = sluicetest.Run(t, "run", "-config", cfgPath)
	addrs[1] = procs[1].HTTPAddr(t)
	if l := procs[1].Last("control document applied at start"); l == nil || sluicetest.Num(l, "version") != 3 {
		t.Fatalf("the restarted process did not start with version 3: %v", l)
	}
	if v := metricOf(t, addrs[1], "sluice_control_version"); v != 3 {
		t.Fatalf("the restarted process reports version %g", v)
	}
	t.Logf("version 1 applied by all three processes %s after control set", applied.Round(10*time.Millisecond))
	stopTraffic.Store(true)
	wg.Wait()
	for i, p := range procs {
		if code, _ := p.Stop(t); code != 0 {
			t.Fatalf("process %d exited %d", i, code)
		}
	}
}
