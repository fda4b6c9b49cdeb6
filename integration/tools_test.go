package integration

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// TestLoadgenAndTail: `sluice loadgen` feeds a running dev-mode pipeline and `sluice tail` reads
// its output back; every datapoint tail prints sits on the shard its series hashes to, computed
// here independently, and the counts add up.
func TestLoadgenAndTail(t *testing.T) {
	bin := sluicetest.Binary(t)
	broker := sluicetest.FreeAddr(t)
	p := sluicetest.Run(t, "run", "-dev", "-dev-broker", broker, "-dev-partitions", "4")
	kafkatest.WaitFor(t, 30*time.Second, "the pipeline to start", func() bool { return p.Last("pipeline started") != nil })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gen := exec.CommandContext(ctx, bin, "loadgen", "-brokers", broker, "-topic", "metrics.opentsdb",
		"-rate", "20000", "-duration", "2s", "-skew", "hot:1:0.5", "-series", "500")
	var genErr strings.Builder
	gen.Stderr = &genErr
	out, err := gen.Output()
	if err != nil {
		t.Fatalf("loadgen: %v\n%s", err, genErr.String())
	}
	m := regexp.MustCompile(`^sent (\d+) datapoints in (\d+) records .* acknowledged (\d+) records \((\d+) datapoints\), 0 failed`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("loadgen's totals line: %q", out)
	}
	sent, _ := strconv.Atoi(string(m[1]))
	if string(m[2]) != string(m[3]) || string(m[1]) != string(m[4]) || sent < 20000 || sent > 60000 {
		t.Fatalf("loadgen sent %s datapoints in %s records, acknowledged %s records (%s datapoints); want all acknowledged, about 40000", m[1], m[2], m[3], m[4])
	}
	if !strings.Contains(genErr.String(), "loadgen: 1s,") {
		t.Errorf("no progress line on stderr: %q", genErr.String())
	}

	tail := exec.CommandContext(ctx, bin, "tail", "-brokers", broker, "-topic", "metrics.shards", "-from", "oldest", "-n", strconv.Itoa(sent))
	tail.Stderr = &genErr
	got, err := tail.Output()
	if err != nil {
		t.Fatalf("tail: %v\n%s", err, genErr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != sent {
		t.Fatalf("tail printed %d datapoints, loadgen sent %d", len(lines), sent)
	}
	canonical := regexp.MustCompile(`^shard=(\d+) ([^{ ]+)\{(.*)\} (\S+) (\d+)$`)
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)=("(?:[^"\\]|\\.)*")`)
	for _, l := range lines {
		m := canonical.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not canonical: %q", l)
		}
		pt := kafkatest.Point{Metric: m[2], Labels: map[string]string{"__name__": m[2]}}
		for _, kv := range label.FindAllStringSubmatch(m[3], -1) {
			v, err := strconv.Unquote(kv[2])
			if err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			pt.Labels[kv[1]] = v
		}
		shard, _ := strconv.Atoi(m[1])
		if want := kafkatest.ShardOf(pt, 16); int(want) != shard {
			t.Fatalf("%q printed on shard %d, its series hashes to %d", l, shard, want)
		}
	}
	if code, _ := p.Stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
