package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// TestReplayTimeRange: three hours of timestamped InfluxDB records on the input topic; a live
// `sluice run` consumes them all into the Kafka shard topic and keeps running; `sluice replay`
// of the middle hour into another output (a real VictoriaMetrics, the "staging" TSDB) is
// interrupted halfway, resumed, and run a third time (nothing left). VictoriaMetrics then holds
// exactly that hour's datapoints, and the live group's offsets never moved.
func TestReplayTimeRange(t *testing.T) {
	vm := startVictoriaMetrics(t, "victoria-metrics")
	const in, out, parts, hosts = "replay.in", "replay.out", 4, 4
	c := kafkatest.Start(t, in, parts, out, 4)
	cfgPath := sluicetest.WriteConfig(t, fmt.Sprintf(`
log { level = "info" }
kafka {
  brokers = [%q]
  version = "3.6.0"
}
input "influx" {
  topics = [%q]
  group  = "replay-live"
}
output "kafka" "live" {
  topic = %q
}
output "remote_write" "staging" {
  urls = [%q]
}
route {
  outputs = ["live"]
}
`, c.Addrs[0], in, out, vm.writeURL()))

	// Three hours, a record every 20 s holding one line per host; record i's Kafka timestamp is
	// its lines' timestamp; values are unique.
	h0 := time.Now().Truncate(time.Hour).Add(-4 * time.Hour)
	from, to := h0.Add(time.Hour), h0.Add(2*time.Hour)
	const step = 20 * time.Second
	want := exported{}
	var msgs []*sarama.ProducerMessage
	for i, ts := 0, h0; ts.Before(h0.Add(3 * time.Hour)); i, ts = i+1, ts.Add(step) {
		var b strings.Builder
		for h := range hosts {
			v := float64(i*hosts + h)
			fmt.Fprintf(&b, "cpu,host=h%d usage=%v %d\n", h, v, ts.UnixNano())
			if !ts.Before(from) && ts.Before(to) {
				k := seriesKey(map[string]string{"__name__": "cpu_usage", "host": fmt.Sprintf("h%d", h)})
				if want[k] == nil {
					want[k] = map[int64]float64{}
				}
				want[k][ts.UnixMilli()] = v
			}
		}
		msgs = append(msgs, &sarama.ProducerMessage{Topic: in, Value: sarama.StringEncoder(b.String()), Timestamp: ts})
	}
	pc := c.SaramaConfig()
	pc.Producer.Return.Successes = true
	pc.Producer.RequiredAcks = sarama.WaitForAll
	pc.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	prod, err := sarama.NewSyncProducer(c.Addrs, pc)
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	hourDP := want.samples()
	t.Logf("%d records over 3 hours, %d datapoints in the middle hour", len(msgs), hourDP)

	live := sluicetest.Run(t, "run", "-config", cfgPath)
	kafkatest.WaitFor(t, 2*time.Minute, "the live pipeline to commit the whole input", func() bool {
		return len(c.Uncommitted(t, "replay-live", in)) == 0
	})
	liveBefore, _ := c.Offsets(t, "replay-live", in)

	args := []string{"replay", "-config", cfgPath, "-from", from.Format(time.RFC3339), "-to", to.Format(time.RFC3339),
		"-output", "staging", "-progress", "500ms"}
	// 1. Rate-capped and interrupted after a first share is committed: exit 1, progress kept.
	bin := sluicetest.Binary(t)
	cmd := exec.Command(bin, append(args, "-rate", "100")...)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the interrupted replay's stderr:\n%s", stderr.String())
		}
	})
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	kafkatest.WaitFor(t, time.Minute, "the replay's first progress line with records done", func() bool {
		for _, l := range strings.Split(stderr.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["@message"] == "progress" && sluicetest.Num(m, "records_done") > 0 {
				return true
			}
		}
		return false
	})
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("replay did not stop within a minute of SIGINT:\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "run the same command again to resume") {
		t.Fatalf("interrupted replay: exit %d, want 1 and the resume hint\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	first := vm.exportVM(t, `{__name__="cpu_usage"}`).samples()
	if first == 0 || first >= hourDP {
		t.Fatalf("after the interrupted replay VictoriaMetrics holds %d of %d datapoints: want some, not all (the rate cap is 100/s)\n%s", first, hourDP, stdout.String())
	}
	t.Logf("interrupted: %s", strings.TrimSpace(stdout.String()))

	// 2. The same command resumes and finishes (rate-capped still: the cap must not stall the end).
	code, so, se := sluiceTool(t, append(args, "-rate", "400")...)
	if code != 0 || !strings.Contains(so, "replayed ") || !strings.Contains(so, "(0 left)") {
		t.Fatalf("resumed replay: exit %d\nstdout: %s\nstderr: %s", code, so, se)
	}
	t.Logf("resumed: %s", strings.TrimSpace(so))
	got := vm.exportVM(t, `{__name__=~".+"}`)
	sameData(t, "VictoriaMetrics after the replay of the middle hour", got, want)

	// 3. Again: everything is replayed already.
	code, so, se = sluiceTool(t, args...)
	if code != 0 || !strings.Contains(so, "nothing to replay") {
		t.Fatalf("third replay: exit %d\nstdout: %s\nstderr: %s", code, so, se)
	}

	// The live pipeline ran throughout, and its group's offsets did not move.
	select {
	case <-live.Done():
		t.Fatal("the live pipeline exited during the replay")
	default:
	}
	liveAfter, _ := c.Offsets(t, "replay-live", in)
	if fmt.Sprint(liveBefore) != fmt.Sprint(liveAfter) {
		t.Fatalf("the live group's offsets moved: %v → %v", liveBefore, liveAfter)
	}
	if code, _ := live.Stop(t); code != 0 {
		t.Fatalf("live pipeline exit %d", code)
	}
}
