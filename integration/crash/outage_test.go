package crash

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// peakRSS reads a process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("cannot read /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestCrashOutputOutage makes the broker refuse every produce request to the shard topic for 20 s
// (NOT_LEADER_FOR_PARTITION, a retryable error) while sluice has input to process. The pipeline
// must stop fetching through its pool bound, not buffer without limit; resume by itself when the
// output returns; and lose nothing.
func TestCrashOutputOutage(t *testing.T) {
	const topic = "in.outage"
	const outage = 20 * time.Second
	c := kafkatest.Start(t, topic, 4, outTopic, shards)
	lines, exp := kafkatest.Generate(300_000)
	c.Produce(t, topic, lines, 100)
	cfg := crashConfig(t, c, topic, "")
	budget := cfg0(t, c, topic).Pipeline.PoolBudget()

	var refused atomic.Int64
	until := time.Now().Add(365 * 24 * time.Hour) // set when sluice has started
	var untilNs atomic.Int64
	untilNs.Store(until.UnixNano())
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if time.Now().UnixNano() > untilNs.Load() {
			return nil, nil, false
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			if tp.Topic != outTopic {
				return nil, nil, false // only the output is down
			}
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		refused.Add(1)
		return resp, nil, true
	})

	bin := sluicetest.Binary(t)
	p := sluicetest.Start(t, bin, nil, "run", "-config", cfg, "-progress", "500ms")
	untilNs.Store(time.Now().Add(outage).UnixNano())
	kafkatest.WaitFor(t, time.Minute, "the pipeline started", func() bool { return p.Last("pipeline started") != nil })
	time.Sleep(outage / 2)
	if pr := p.Last("progress"); pr == nil || sluicetest.Num(pr, "out_total") != 0 {
		t.Fatalf("datapoints reached the output during the outage: %v", pr)
	}
	if u := c.Uncommitted(t, group, topic); len(u) == 0 {
		t.Fatal("the input was committed although the output refused everything")
	}
	kafkatest.WaitFor(t, 2*time.Minute, "recovery: the input committed to its end", func() bool {
		return len(c.Uncommitted(t, group, topic)) == 0
	})
	rss := peakRSS(t, p.Cmd.Process.Pid)
	assigned, released := 0, 0
	for _, l := range p.Logs() {
		switch l["@message"] {
		case "partitions assigned":
			assigned++
		case "partition released with batches not acknowledged; they will be consumed again":
			released++
		}
	}

	code, last := p.Stop(t)
	if code != 0 {
		t.Fatalf("exit %d: %v", code, last)
	}
	if refused.Load() == 0 {
		t.Fatal("the outage refused no produce request; the test proves nothing")
	}
	if limit := 2*budget + 64<<20; rss > limit {
		t.Fatalf("peak RSS %d MiB exceeds twice the pool budget plus 64 MiB (%d MiB)", rss>>20, limit>>20)
	}
	checked, dups := sluicetest.CheckZeroLoss(t, c, exp, topic)
	t.Logf("output outage (%s, %d produce requests refused): %d valid datapoints checked, all present; %d duplicates; "+
		"%d partition assignments, %d undrained releases; peak RSS %d MiB (limit %d MiB)",
		outage, refused.Load(), checked, dups, assigned, released, rss>>20, (2*budget+64<<20)>>20)
}

// cfg0 loads the crash config the way sluice will, for its derived settings.
func cfg0(t *testing.T, c *kafkatest.Cluster, topic string) *config.Config {
	t.Helper()
	cfg, err := config.LoadFile(crashConfig(t, c, topic, ""))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
