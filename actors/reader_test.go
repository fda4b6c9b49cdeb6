package actors

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

// The group timeouts sarama gets: a JoinGroup or SyncGroup may wait the whole rebalance timeout,
// so the read timeout is longer; a revoked partition's drain ends before the rebalance does.
func TestConsumerGroupTimeouts(t *testing.T) {
	load := func(kafka string) *readerDeps {
		t.Helper()
		cfg, err := config.Load("t.hcl", []byte("input \"opentsdb\" { topics = [\"in\"] }\noutput \"kafka\" \"o\" { topic = \"o\" }\nkafka {\n"+kafka+"\n}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return &readerDeps{cfg: cfg}
	}
	d := load("")
	c := saramaConsumerConfig(d, 1)
	if c.Consumer.Group.Rebalance.Timeout != 8*time.Second || c.Consumer.Group.Session.Timeout != 10*time.Second {
		t.Fatalf("rebalance %s, session %s", c.Consumer.Group.Rebalance.Timeout, c.Consumer.Group.Session.Timeout)
	}
	if c.Net.ReadTimeout != 30*time.Second || c.Consumer.Group.InstanceId != "" {
		t.Fatalf("read timeout %s, instance id %q", c.Net.ReadTimeout, c.Consumer.Group.InstanceId)
	}
	if got := revokeDrain(d.cfg); got != 4500*time.Millisecond {
		t.Fatalf("revoke drain %s, want 8s - 3s heartbeat - 0.5s", got)
	}
	d = load(`rebalance_timeout = "60s"
instance_id = "host-a"`)
	c = saramaConsumerConfig(d, 1)
	if c.Net.ReadTimeout != 65*time.Second {
		t.Fatalf("read timeout %s with a 60 s rebalance timeout, want 65 s", c.Net.ReadTimeout)
	}
	if c.Consumer.Group.InstanceId != "host-a-1" {
		t.Fatalf("instance id %q, want host-a-1 for reader 1", c.Consumer.Group.InstanceId)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("sarama rejects the config: %v", err)
	}
}

// Freshness follows the oldest unacknowledged record; /readyz fails for a partition that is
// behind and has not committed for 3 × commit_interval, and only then.
func TestClaimFreshnessAndStall(t *testing.T) {
	cfg, err := config.Load("t.hcl", []byte("input \"opentsdb\" { topics = [\"in\"] }\noutput \"kafka\" \"o\" { topic = \"o\" }\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := &deps{cfg: cfg, claims: newClaimRegistry(1)}
	c := newClaim(nil, "in", 3, 0)
	d.claims.add(c)
	now := time.Now()
	if f := c.freshness(now); f != 0 {
		t.Fatalf("freshness %s with nothing in flight", f)
	}
	c.oldestMs.Store(now.Add(-90 * time.Second).UnixMilli())
	if f := c.freshness(now); f < 89*time.Second || f > 91*time.Second {
		t.Fatalf("freshness %s, want 90 s", f)
	}
	if err := stalledClaim(d, now.Add(10*time.Second)); err != nil {
		t.Fatalf("a partition with no lag is not stalled: %v", err)
	}
	c.lag.Store(500)
	if err := stalledClaim(d, now.Add(2*time.Second)); err != nil {
		t.Fatalf("2 s without a commit is within 3 × the 1 s commit interval: %v", err)
	}
	if err := stalledClaim(d, now.Add(4*time.Second)); err == nil {
		t.Fatal("4 s behind without a commit: want not ready")
	}
	c.mark(10) // the offset moves: ready again
	if err := stalledClaim(d, time.Now().Add(time.Second)); err != nil {
		t.Fatalf("just committed: %v", err)
	}
}
