package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// TestReloadOnSIGHUP takes a real process through the three outcomes of a reload: a change that
// applies (a denylist file: the next datapoints of the listed metric are dropped), a change that
// needs a restart (logged and ignored), and an invalid file (rejected with its diagnostics; the
// running config stays). /metrics counts them.
func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cfgPath, denyPath := filepath.Join(dir, "sluice.hcl"), filepath.Join(dir, "deny.txt")
	write := func(path, src string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const base = `log { level = "info" }
input "opentsdb" { topics = ["metrics.opentsdb"] }
output "kafka" "tsdb" { topic = "metrics.shards" }
`
	write(denyPath, "# nothing denied yet\n")
	write(cfgPath, base+`denylist { file = "deny.txt" }`+"\n")

	broker := sluicetest.FreeAddr(t)
	p := sluicetest.Run(t, "run", "-dev", "-dev-broker", broker, "-config", cfgPath)
	addr := p.HTTPAddr(t)
	kafkatest.WaitFor(t, 30*time.Second, "/readyz", func() bool {
		code, _ := get(t, "http://"+addr+"/readyz")
		return code == 200
	})

	cfg := sarama.NewConfig()
	cfg.Version = kafkatest.Version
	cfg.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer([]string{broker}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	sent := 0
	send := func(n int) {
		t.Helper()
		var b strings.Builder
		for range n {
			fmt.Fprintf(&b, "put secret.key %d %d host=h%d\n", time.Now().Unix(), sent, sent)
			sent++
		}
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "metrics.opentsdb", Value: sarama.StringEncoder(b.String())}); err != nil {
			t.Fatal(err)
		}
	}
	counts := func() (out, denied, ok, rejected float64) {
		f := sluicetest.Scrape(t, addr)
		return sluicetest.Sum(f["sluice_output_datapoints_total"], nil), sluicetest.Sum(f["sluice_dropped_total"], map[string]string{"reason": "denylisted"}),
			sluicetest.Sum(f["sluice_config_reloads_total"], map[string]string{"result": "ok"}), sluicetest.Sum(f["sluice_config_reloads_total"], map[string]string{"result": "rejected"})
	}
	hup := func() {
		t.Helper()
		if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	send(10)
	kafkatest.WaitFor(t, 30*time.Second, "10 datapoints written", func() bool { out, _, _, _ := counts(); return out == 10 })

	// 1. Applies: the denylist file now lists the metric.
	write(denyPath, "# reloaded\nsecret.**\n")
	hup()
	kafkatest.WaitFor(t, 10*time.Second, "the reload", func() bool { _, _, ok, _ := counts(); return ok == 1 && p.Last("config reloaded") != nil })
	if l := p.Last("config reloaded"); l["applied"] != "denylist" || l["needs_restart"] != "" {
		t.Fatalf("reload log line: %v; want applied=denylist and nothing needing a restart", l)
	}
	send(7)
	kafkatest.WaitFor(t, 30*time.Second, "7 datapoints denylisted", func() bool { _, denied, _, _ := counts(); return denied == 7 })

	// 2. Needs a restart: logged, ignored; the log level in the same file applies.
	write(cfgPath, strings.Replace(base, `level = "info"`, `level = "debug"`, 1)+`denylist { file = "deny.txt" }`+"\n"+`pipeline { workers = 7 }`+"\n")
	hup()
	const ignored = "config changes that need a restart were ignored"
	kafkatest.WaitFor(t, 10*time.Second, "the second reload", func() bool { _, _, ok, _ := counts(); return ok == 2 && p.Last(ignored) != nil })
	if l := p.Last(ignored); l["blocks"] != "pipeline" {
		t.Fatalf("no warning naming the pipeline block: %v", l)
	}
	if l := p.Last("config reloaded"); l["applied"] != "log.level" || l["needs_restart"] != "pipeline" {
		t.Fatalf("second reload: %v; want log.level applied and pipeline needing a restart", l)
	}

	// 3. Rejected: the diagnostics name the file, line and column; the denylist stays.
	write(cfgPath, base+`denylist {
  file  = "deny.txt"
  globs = ["a..b"]
}
`)
	hup()
	const rejected = "config reload rejected; the running config stays"
	kafkatest.WaitFor(t, 10*time.Second, "the rejected reload", func() bool { _, _, _, rej := counts(); return rej == 1 && p.Last(rejected) != nil })
	l := p.Last(rejected)
	if diag, _ := l["diagnostics"].(string); !strings.Contains(diag, cfgPath+":6:") || !strings.Contains(diag, "Invalid glob") {
		t.Fatalf("rejected reload's diagnostics %q lack %s:6: and the summary", diag, cfgPath)
	}
	send(5)
	kafkatest.WaitFor(t, 30*time.Second, "the 5 later datapoints denylisted too", func() bool { _, denied, _, _ := counts(); return denied == 12 })

	code, last := p.Stop(t)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if sluicetest.Num(last, "workers_alive") != 4 || sluicetest.Num(last, "datapoints_out") != 10 || sluicetest.Num(last, "datapoints_in") != int64(sent) {
		t.Fatalf("summary %v: want 4 workers (the restart-only change ignored), 10 out, %d in", last, sent)
	}
}
