package fleet

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// With kafka.instance_id (static membership), a process SIGKILLed and started again within the
// session timeout gets its partitions back at once, and the other process's session goes on: no
// group-wide rebalance. Default timeouts.
func TestStaticMembershipRestart(t *testing.T) {
	const topic = "in.static"
	c := kafkatest.Start(t, topic, 8, outTopic, shards)
	lines, _ := kafkatest.Generate(200_000)
	c.Produce(t, topic, lines, 100)
	bin := sluicetest.Binary(t)
	cfgFor := func(id string) string {
		src := strings.NewReplacer("BROKER", c.Addrs[0], "TOPIC", topic, "GROUP", group, "OUT", outTopic, "ID", id).Replace(`
kafka {
  brokers = ["BROKER"]
  instance_id = "ID"
}
input "opentsdb" {
  topics = ["TOPIC"]
  group  = "GROUP"
}
output "kafka" "tsdb" {
  topic  = "OUT"
  shards = 8
}
`)
		return sluicetest.WriteConfig(t, src)
	}
	assigned := func(p *sluicetest.Proc) int { return p.Count("partitions assigned") }
	a := sluicetest.Start(t, bin, nil, "run", "-config", cfgFor("task-a"))
	b := sluicetest.Start(t, bin, nil, "run", "-config", cfgFor("task-b"))
	kafkatest.WaitFor(t, time.Minute, "both processes in the group with partitions", func() bool {
		state, members := c.Assignment(t, group, topic)
		owned := 0
		for _, ps := range members {
			owned += len(ps)
		}
		return state == "Stable" && len(members) == 4 && owned == 8 && assigned(a) >= 2 && assigned(b) >= 2
	})
	time.Sleep(2 * time.Second) // the group settled: no rebalance still on its way
	bBefore := assigned(b)
	a.Cmd.Process.Signal(syscall.SIGKILL)
	<-a.Done()
	a.Cmd.Wait()
	t0 := time.Now()
	a = sluicetest.Start(t, bin, nil, "run", "-config", cfgFor("task-a"))
	kafkatest.WaitFor(t, time.Minute, "the restarted process consuming again", func() bool { return assigned(a) >= 2 })
	back := time.Since(t0)
	time.Sleep(3 * time.Second)
	t.Logf("static membership: the SIGKILLed process had its partitions back %s after its restart; the other process's sessions: %d before, %d after", back.Round(10*time.Millisecond), bBefore, assigned(b))
	if assigned(b) != bBefore {
		t.Fatalf("the other process joined a rebalance (%d sessions before, %d after): static membership did not keep the group stable", bBefore, assigned(b))
	}
	if back > 8*time.Second {
		t.Fatalf("partitions back after %s, want well within the 10 s session timeout", back)
	}
	for _, p := range []*sluicetest.Proc{a, b} {
		if code, last := p.Stop(t); code != 0 {
			t.Fatalf("exit %d, last line %v", code, last)
		}
	}
}
