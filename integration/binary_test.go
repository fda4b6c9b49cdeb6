package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// TestDevModeRunsAndStopsOnSIGTERM runs `sluice run -dev` with its generator, waits for datapoints
// to flow, sends SIGTERM and expects exit 0 with the summary as the last line.
func TestDevModeRunsAndStopsOnSIGTERM(t *testing.T) {
	p := sluicetest.Run(t, "run", "-dev", "-dev-broker", sluicetest.FreeAddr(t), "-dev-rate", "20000", "-progress", "500ms")
	deadline := time.Now().Add(45 * time.Second)
	for {
		if pr := p.Last("progress"); pr != nil && sluicetest.Num(pr, "out_total") > 10000 {
			for _, k := range []string{"in_dp_per_s", "out_dp_per_s", "lag", "raw_pool", "shard_pool", "gc_pause"} {
				if _, ok := pr[k]; !ok {
					t.Fatalf("progress line lacks %s: %v", k, pr)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no datapoints reached the output within 45 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, last := p.Stop(t)
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if last["@message"] != "sluice stopped" || last["drained"] != true {
		t.Fatalf("last line is not a drained summary: %v", last)
	}
	in, out, dropped := sluicetest.Num(last, "datapoints_in"), sluicetest.Num(last, "datapoints_out"), sluicetest.Num(last, "dropped")
	if in == 0 || in != out+dropped {
		t.Fatalf("summary: datapoints_in %d != datapoints_out %d + dropped %d", in, out, dropped)
	}
	for _, k := range []string{"routing_changes", "hot_partitions"} {
		if _, ok := last[k].(float64); !ok {
			t.Errorf("summary lacks the coordinator's %s: %v", k, last)
		}
	}
	// The memory budget is logged at start in dev mode too (the limit is not set there).
	if b := p.Last("memory budget"); b == nil || sluicetest.Num(b, "working_set_mib") == 0 {
		t.Errorf("no memory budget logged at start: %v", b)
	}
}

// TestDevModeWithKcat produces into the embedded broker with kcat (librdkafka, an independent
// client), checks what the pipeline counted, and reads the shard topic back with kcat.
func TestDevModeWithKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed (apt-get install kcat); CI installs it")
	}
	addr := sluicetest.FreeAddr(t)
	p := sluicetest.Run(t, "run", "-dev", "-dev-broker", addr, "-progress", "200ms")
	waitLog := func(msg string) {
		deadline := time.Now().Add(30 * time.Second)
		for p.Last(msg) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no %q log line within 30 s", msg)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitLog("partitions assigned")
	var in strings.Builder
	now := time.Now().Unix()
	const lines, bad = 1000, 10
	for i := 0; i < lines; i++ {
		if i%(lines/bad) == 0 {
			in.WriteString("put not.enough.fields\n")
			continue
		}
		fmt.Fprintf(&in, "put kcat.metric%d %d %d host=h%d\n", i%5, now, i, i%11)
	}
	cmd := exec.Command(kcat, "-P", "-b", addr, "-t", "metrics.opentsdb")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pr := p.Last("progress"); pr != nil && sluicetest.Num(pr, "out_total")+sluicetest.Num(pr, "dropped_total") >= lines {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline did not process %d lines within 30 s: %v", lines, p.Last("progress"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := exec.Command(kcat, "-C", "-b", addr, "-t", "metrics.shards", "-e", "-q", "-f", "%p %k\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	records := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		part, key, _ := strings.Cut(l, " ")
		if _, err := strconv.Atoi(part); err != nil || part != key {
			t.Fatalf("output record on partition %q has key %q; want the shard id", part, key)
		}
		records++
	}
	if records == 0 {
		t.Fatal("kcat read no record from the shard topic")
	}
	code, last := p.Stop(t)
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if sluicetest.Num(last, "datapoints_in") != lines || sluicetest.Num(last, "datapoints_out") != lines-bad || sluicetest.Num(last, "dropped_unparseable") != bad {
		t.Fatalf("summary %v; want %d in, %d out, %d unparseable", last, lines, lines-bad, bad)
	}
}

// TestDevModeRunsTheFilesConfig: `sluice run -dev -config FILE` runs the file's own inputs and
// outputs against the embedded broker: it creates the file's topics (an influx input on
// my.metrics, a Kafka output on my.shards with its 3 shards, an aggregate's topic), keeps a remote-write output a
// remote-write output, and what is produced to the file's input topic comes out of the file's
// output topic.
func TestDevModeRunsTheFilesConfig(t *testing.T) {
	addr := sluicetest.FreeAddr(t)
	cfg := sluicetest.WriteConfig(t, `
input "influx" { topics = ["my.metrics"] }
output "kafka" "mine" {
  topic  = "my.shards"
  shards = 3
  linger = "20ms"
}
output "remote_write" "vm" {
  urls           = ["http://127.0.0.1:1/api/v1/write"]
  probe_at_start = false # nobody listens there, and no datapoint goes there
}
route {
  match   = ["never.**"]
  outputs = ["vm"]
}
route { outputs = ["mine"] }
aggregate "a" {
  match    = ["never.aggregated"]
  interval = "1m"
  outputs  = ["sum_samples"]
}
`)
	p := sluicetest.Run(t, "run", "-dev", "-dev-broker", addr, "-dev-rate", "0", "-config", cfg, "-http", "127.0.0.1:0")
	deadline := time.Now().Add(30 * time.Second)
	for p.Last("partitions assigned") == nil {
		if time.Now().After(deadline) {
			t.Fatal("no partitions assigned within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l := p.Last("embedded Kafka-protocol broker listening; any Kafka client can produce to it"); l == nil || l["topics"] != "my.metrics,my.shards,sluice.aggregate.a" {
		t.Fatalf("dev mode did not create the file's topics: %v", l)
	}
	fams := sluicetest.Scrape(t, p.HTTPAddr(t))
	if sluicetest.Sum(fams["sluice_output_endpoint_state"], map[string]string{"output": "vm"}) != 0 || fams["sluice_output_endpoint_state"] == nil {
		t.Fatal("the remote-write output vm is not running as a remote-write output")
	}
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer([]string{addr}, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	now := time.Now().UnixNano()
	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, "cpu,host=h%d usage_user=%d,status=\"ok\" %d\n", i, i, now)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "my.metrics", Value: sarama.StringEncoder(b.String())}); err != nil {
		t.Fatalf("producing to the file's input topic: %v", err)
	}
	code, out, errs := sluiceTool(t, "tail", "-brokers", addr, "-topic", "my.shards", "-from", "oldest", "-n", "30")
	if code != 0 || strings.Count(out, "cpu_usage_user") != 30 {
		t.Fatalf("tail of the file's output topic: exit %d\n%s%s", code, out, errs)
	}
	code, last := p.Stop(t)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The string fields are skipped, not dropped: a clean input shows no drops.
	if sluicetest.Num(last, "dropped") != 0 || sluicetest.Num(last, "skipped") != 30 || sluicetest.Num(last, "skipped_string_field") != 30 {
		t.Fatalf("summary: dropped %v, skipped %v; want 0 and the 30 string fields: %v", last["dropped"], last["skipped"], last)
	}
}

// TestSilentBrokerFailsStartClearly: a broker address that accepts connections and never answers
// (a wrong port behind a proxy, a TLS listener spoken to in plain text) makes `sluice run` exit 1
// within its 30 s start deadline, with an error that names the address, the step it was at and
// what to check — not a bare "context deadline exceeded".
func TestSilentBrokerFailsStartClearly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	addr := ln.Addr().String()
	cfg := sluicetest.WriteConfig(t, fmt.Sprintf(`
kafka { brokers = [%q] }
input "opentsdb" { topics = ["in"] }
output "kafka" "o" { topic = "out" }
`, addr))
	began := time.Now()
	p := sluicetest.Run(t, "run", "-config", cfg, "-http", "127.0.0.1:0")
	select {
	case <-p.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("still starting after 60 s")
	}
	took := time.Since(began)
	code, last := p.Stop(t)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	msg, _ := last["error"].(string)
	for _, want := range []string{"no answer from Kafka at " + addr, `starting output "o"`, "kafka.tls"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error lacks %q: %v", want, last)
		}
	}
	t.Logf("exit 1 after %s: %s", took.Round(time.Second), msg)
}

// TestSummaryIsTheLastLineWhenTheOutputIsDown: with the output down (a remote-write URL nobody
// listens on), SIGTERM stops within the default shutdown timeout and the summary is the last line,
// consistent with what was left: drained=false and the batches left counted; every reader's
// "partition released with batches not acknowledged" comes before it.
func TestSummaryIsTheLastLineWhenTheOutputIsDown(t *testing.T) {
	cfg := sluicetest.WriteConfig(t, `
input "opentsdb" { topics = ["metrics.opentsdb"] }
output "remote_write" "down" {
  urls           = ["http://127.0.0.1:1/api/v1/write"]
  probe_at_start = false # down from the start, to test the stop
}
`)
	p := sluicetest.Run(t, "run", "-dev", "-dev-broker", sluicetest.FreeAddr(t), "-dev-rate", "2000", "-config", cfg,
		"-http", "127.0.0.1:0", "-progress", "500ms")
	kafkatest.WaitFor(t, 45*time.Second, "datapoints read", func() bool {
		pr := p.Last("progress")
		return pr != nil && sluicetest.Num(pr, "in_total") > 0
	})
	code, last := p.Stop(t)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if last["@message"] != "sluice stopped" {
		t.Fatalf("the last line is not the summary: %v", last)
	}
	if last["drained"] != false || sluicetest.Num(last, "batches_left") == 0 {
		t.Fatalf("the summary says drained=%v batches_left=%v with the output down", last["drained"], last["batches_left"])
	}
	if n := p.Count("partition released with batches not acknowledged; they will be consumed again"); n == 0 {
		t.Error("no reader said what it left unacknowledged")
	}
}

// TestUnusableRemoteWriteFailsStart: a remote-write output that cannot be used fails the start
// with exit 1 and an error naming the endpoint and what to check, before any data arrives: a URL
// nobody listens on (after the probe's patience), and a real VictoriaMetrics asked at a wrong
// path, which refuses the probe's empty request. Against the right path the same probe passes and
// stores nothing.
func TestUnusableRemoteWriteFailsStart(t *testing.T) {
	start := func(t *testing.T, url string) (int, string, *sluicetest.Proc) {
		cfg := sluicetest.WriteConfig(t, fmt.Sprintf(`
input "opentsdb" { topics = ["metrics.opentsdb"] }
output "remote_write" "tsdb" { urls = [%q] }
`, url))
		p := sluicetest.Run(t, "run", "-dev", "-dev-broker", sluicetest.FreeAddr(t), "-dev-rate", "0", "-config", cfg, "-http", "127.0.0.1:0")
		select {
		case <-p.Done():
		case <-time.After(60 * time.Second):
			return -1, "", p
		}
		code, last := p.Stop(t)
		msg, _ := last["error"].(string)
		return code, msg, p
	}
	t.Run("nobody listens", func(t *testing.T) {
		t.Parallel()
		url := "http://" + sluicetest.FreeAddr(t) + "/api/v1/write"
		code, msg, _ := start(t, url)
		if code != 1 || !strings.Contains(msg, `output "tsdb"`) || !strings.Contains(msg, "no endpoint could be reached") ||
			!strings.Contains(msg, url) || !strings.Contains(msg, "probe_at_start = false") {
			t.Fatalf("exit %d: %s", code, msg)
		}
		t.Logf("exit 1: %s", msg)
	})
	t.Run("wrong path", func(t *testing.T) {
		t.Parallel()
		vm := startVictoriaMetrics(t, "vm")
		url := vm.base + "/api/v1/wrte"
		code, msg, _ := start(t, url)
		if code != 1 || !strings.Contains(msg, url+" answered the start probe") || !strings.Contains(msg, "check the URL's path") {
			t.Fatalf("exit %d: %s", code, msg)
		}
		t.Logf("exit 1: %s", msg)
		// The right path: the probe passes, the pipeline runs, and nothing was stored.
		cfg := sluicetest.WriteConfig(t, fmt.Sprintf(`
input "opentsdb" { topics = ["metrics.opentsdb"] }
output "remote_write" "tsdb" { urls = [%q] }
`, vm.writeURL()))
		p := sluicetest.Run(t, "run", "-dev", "-dev-broker", sluicetest.FreeAddr(t), "-dev-rate", "0", "-config", cfg, "-http", "127.0.0.1:0")
		p.HTTPAddr(t)
		kafkatest.WaitFor(t, 30*time.Second, "the pipeline to run", func() bool { return p.Last("partitions assigned") != nil })
		if code, _ := p.Stop(t); code != 0 {
			t.Fatalf("exit %d against the right path", code)
		}
		if got := vm.exportVM(t, `{__name__=~".+"}`); len(got) != 0 {
			t.Fatalf("the probe stored %d series", len(got))
		}
	})
}

// TestDevHintsWorkAsPrinted: the commands dev mode prints to try next run as printed, in a shell,
// with nothing but the binary: the produce hint writes its line, the tail hint (bounded here with
// -from oldest -n 1) prints that datapoint from the output, and the metrics hint, when curl is
// installed, reads /metrics.
func TestDevHintsWorkAsPrinted(t *testing.T) {
	p := sluicetest.Run(t, "run", "-dev", "-dev-broker", sluicetest.FreeAddr(t), "-dev-rate", "0", "-http", "127.0.0.1:0")
	var hints map[string]any
	kafkatest.WaitFor(t, 30*time.Second, "dev mode's hints", func() bool {
		hints = p.Last("dev mode is running; try next")
		return hints != nil
	})
	sh := func(cmd string, timeout time.Duration) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "sh", "-c", cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	produce, _ := hints["produce_a_line"].(string)
	if out := sh(produce, 30*time.Second); !strings.Contains(out, "produced 1 records") {
		t.Fatalf("%s printed %q", produce, out)
	}
	tail, _ := hints["watch_the_output"].(string)
	if out := sh(tail+" -from oldest -n 1", 60*time.Second); !strings.Contains(out, `sys.cpu.user{host="web01"} 42`) {
		t.Fatalf("%s printed %q", tail, out)
	}
	if _, err := exec.LookPath("curl"); err == nil {
		metrics, _ := hints["read_the_metrics"].(string)
		if out := sh(metrics, 10*time.Second); !strings.Contains(out, "sluice_output_datapoints_total") {
			t.Fatalf("%s printed %q", metrics, out)
		}
	}
	page, _ := hints["open_the_status_page"].(string)
	if code, body := get(t, page); code != http.StatusOK || !strings.Contains(body, "<title>Sluice status</title>") {
		t.Fatalf("GET %s: %d %.200s", page, code, body)
	}
	status, _ := hints["status_in_a_terminal"].(string)
	if out := sh(status, 10*time.Second); !strings.Contains(out, "PARTITIONS") || !strings.Contains(out, "health: ok") {
		t.Fatalf("%s printed %q", status, out)
	}
	if code, _ := p.Stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
