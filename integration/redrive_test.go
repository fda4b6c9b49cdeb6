package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
)

// TestRedriveAfterFix: influx lines sent to an OpenTSDB input are dead-lettered as unparseable;
// `sluice dlq stats` counts them; the input is "fixed" (a config change: the topic is read as
// influx); `sluice redrive -dry-run` counts without producing, `sluice redrive` re-produces them
// to their source topic, and every line reaches the output exactly once; a second redrive with
// the same filters resumes past them and produces nothing.
func TestRedriveAfterFix(t *testing.T) {
	const in, out, dlq, shards = "rd.in", "rd.out", "rd.dlq", 4
	c := kafkatest.Start(t, in, 3, out, shards)
	c.CreateTopic(t, dlq, 2)
	nowNs := time.Now().Add(-time.Minute).UnixNano()
	nowSec := nowNs / 1e9
	var records [][]byte
	influx := map[string]bool{}
	for r := 0; r < 20; r++ {
		var b strings.Builder
		for i := 0; i < 10; i++ {
			fmt.Fprintf(&b, "put ok.metric %d %d host=h%d\n", nowSec, r*10+i, i)
		}
		for i := 0; i < 5; i++ {
			n := r*5 + i
			fmt.Fprintf(&b, "cpu,host=h%d usage=%d %d\n", n, n, nowNs)
			influx[fmt.Sprint("h", n)] = true
		}
		records = append(records, []byte(b.String()))
	}
	c.ProduceRecords(t, in, records, time.Now())
	run := func(format string, until func(actors.Snapshot) bool) {
		t.Helper()
		cfg := c.ConfigFor(t, fmt.Sprintf("input %q {\n  topics = [%q]\n  group = \"rd\"\n}\n", format, in), out, shards, "",
			fmt.Sprintf("dead_letter { topic = %q }", dlq))
		p, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		defer func() { t.Logf("%s pipeline ran %s", format, time.Since(t0).Round(100*time.Millisecond)) }()
		kafkatest.WaitFor(t, time.Minute, format+" pipeline done and committed", func() bool { return until(p.Stats()) && len(c.Uncommitted(t, "rd", in)) == 0 })
		stopClean(t, p)
	}
	run("opentsdb", func(s actors.Snapshot) bool { return s.DatapointsOut == 200 && s.DeadLettered == 100 })

	addr := c.Addrs[0]
	code, stdout, stderr := sluiceTool(t, "dlq", "stats", "-brokers", addr, "-topic", dlq)
	if code != 0 || !strings.Contains(stdout, "unparseable") || !strings.Contains(stdout, in) || !strings.Contains(stdout, "100 records") {
		t.Fatalf("dlq stats: exit %d\n%s%s", code, stdout, stderr)
	}
	_, endBefore := c.Offsets(t, "rd", in)
	code, stdout, stderr = sluiceTool(t, "redrive", "-brokers", addr, "-from", dlq, "-reason", "unparseable", "-dry-run")
	if code != 0 || !strings.Contains(stdout, "100 records would be redriven (dry run)") {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, end := c.Offsets(t, "rd", in); fmt.Sprint(end) != fmt.Sprint(endBefore) {
		t.Fatalf("the dry run produced: end offsets %v, were %v", end, endBefore)
	}
	code, stdout, stderr = sluiceTool(t, "redrive", "-brokers", addr, "-from", dlq, "-reason", "unparseable")
	if code != 0 || !strings.Contains(stdout, "100 records redriven") {
		t.Fatalf("redrive: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("redrive:\n%s", stdout)

	// The fix: the topic is read as influx; the redriven lines are all it has left to read.
	run("influx", func(s actors.Snapshot) bool { return s.DatapointsOut == 100 })
	seen := map[string]int{}
	for _, p := range c.ReadOutput(t, out) {
		if p.Metric == "cpu_usage" {
			seen[p.Labels["host"]]++
		}
	}
	for h := range influx {
		if seen[h] != 1 {
			t.Fatalf("line of %s on the output %d times, want once", h, seen[h])
		}
	}
	if len(seen) != len(influx) {
		t.Fatalf("%d influx series on the output, want %d", len(seen), len(influx))
	}

	// A request an output refused, dead-lettered: a redrive without filters counts it as not
	// redrivable (and, in a dry run, the 100 lines again: another group, another progress).
	prod, err := sarama.NewSyncProducer(c.Addrs, c.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: dlq, Value: sarama.StringEncoder("a WriteRequest"), Headers: []sarama.RecordHeader{
		{Key: []byte(actors.HeaderReason), Value: []byte("output_rejected")}, {Key: []byte(actors.HeaderSourceTopic), Value: []byte(out)}}}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = sluiceTool(t, "redrive", "-brokers", addr, "-from", dlq, "-dry-run")
	if code != 0 || !strings.Contains(stdout, "100 records would be redriven (dry run), 0 filtered out, 1 not redrivable") ||
		!strings.Contains(stdout, "not redrivable: output_rejected records") {
		t.Fatalf("dry run without filters: exit %d\n%s%s", code, stdout, stderr)
	}

	// The same redrive again: its progress is kept, so nothing is produced twice.
	code, stdout, stderr = sluiceTool(t, "redrive", "-brokers", addr, "-from", dlq, "-reason", "unparseable")
	if code != 0 || !strings.Contains(stdout, "0 records redriven") {
		t.Fatalf("second redrive: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, end := c.Offsets(t, "rd", in); sumOffsets(end) != sumOffsets(endBefore)+100 {
		t.Fatalf("input end offsets %v after two redrives, want %d more records than %v", end, 100, endBefore)
	}
}

func sumOffsets(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
