package integration

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/integration/kafkatest"
)

// kfake's group coordinator differs from Kafka's in one way that stalled fleets (issue 14):
// Kafka keeps a member alive while it waits in JoinGroup or SyncGroup (its heartbeat is
// "satisfied" until the rebalance answers it), and answers the JoinGroup when the rebalance
// timeout ends the wait; kfake keeps the member's session timer running, expires it mid-wait
// and never answers its JoinGroup, so the client sits until its read timeout, joins again as a
// new member and starts another rebalance. Sluice's default rebalance timeout is below the
// session timeout, so that on kfake too the wait always ends first. This test shows both: with a
// rebalance timeout above the session timeout the waiting member's JoinGroup is never answered
// (Kafka would answer it after the rebalance timeout), with one below it is answered in time.
// If a kfake release starts behaving as Kafka does, the first half fails: then this note, the
// rebalance_timeout warning and docs/fleet.md can say so.
func TestKfakeExpiresMembersWaitingInJoin(t *testing.T) {
	// The group's timeouts are short here because this test is about the broker, not Sluice;
	// the fleet test proves the fix with the production defaults.
	t.Run("rebalance above session", func(t *testing.T) {
		answered := joinWhileOtherMemberLingers(t, time.Second, 3*time.Second)
		if answered {
			t.Fatal("kfake answered the JoinGroup of a member whose session ran out while it waited: it now behaves as Kafka does (see the comment)")
		}
	})
	t.Run("rebalance below session", func(t *testing.T) {
		if !joinWhileOtherMemberLingers(t, 3*time.Second, time.Second) {
			t.Fatal("the JoinGroup was not answered when the rebalance timeout ended the wait")
		}
	})
}

// joinWhileOtherMemberLingers forms a stable group of members A and B, then makes A join again
// while B goes on heartbeating without joining: the rebalance can only end by its timeout. It
// reports whether A's JoinGroup was answered within the rebalance timeout + 2 s.
func joinWhileOtherMemberLingers(t *testing.T, session, rebalance time.Duration) bool {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := func() *sarama.Broker {
		cfg := sarama.NewConfig()
		cfg.Version = kafkatest.Version
		cfg.Net.ReadTimeout = rebalance + 2*time.Second
		b := sarama.NewBroker(c.ListenAddrs()[0])
		if err := b.Open(cfg); err != nil {
			t.Fatal(err)
		}
		return b
	}
	const group = "g"
	join := func(b *sarama.Broker, member string, meta byte) (*sarama.JoinGroupResponse, error) {
		req := &sarama.JoinGroupRequest{Version: 5, GroupId: group, MemberId: member, ProtocolType: "consumer",
			SessionTimeout: int32(session / time.Millisecond), RebalanceTimeout: int32(rebalance / time.Millisecond)}
		req.AddGroupProtocol("range", []byte{0, 1, meta})
		resp, err := b.JoinGroup(req)
		if err == nil && resp.Err == sarama.ErrMemberIdRequired {
			req.MemberId = resp.MemberId
			resp, err = b.JoinGroup(req)
		}
		if err == nil && resp.Err != sarama.ErrNoError {
			err = resp.Err
		}
		return resp, err
	}
	sync := func(b *sarama.Broker, r *sarama.JoinGroupResponse) {
		req := &sarama.SyncGroupRequest{Version: 3, GroupId: group, GenerationId: r.GenerationId, MemberId: r.MemberId}
		if r.LeaderId == r.MemberId {
			for _, m := range r.Members {
				req.AddGroupAssignment(m.MemberId, []byte{0})
			}
		}
		resp, err := b.SyncGroup(req)
		if err != nil || resp.Err != sarama.ErrNoError {
			t.Fatalf("sync: %v %v", err, resp)
		}
	}
	heartbeat := func(b *sarama.Broker, r *sarama.JoinGroupResponse) sarama.KError {
		resp, err := b.Heartbeat(&sarama.HeartbeatRequest{Version: 3, GroupId: group, GenerationId: r.GenerationId, MemberId: r.MemberId})
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		return resp.Err
	}

	a, b := conn(), conn()
	defer a.Close()
	defer b.Close()
	ra, err := join(a, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	sync(a, ra)
	// B joins; A learns of the rebalance from a heartbeat and joins it too.
	rbc := make(chan *sarama.JoinGroupResponse, 1)
	go func() {
		r, err := join(b, "", 1)
		if err != nil {
			t.Error(err)
		}
		rbc <- r
	}()
	kafkatest.WaitFor(t, 5*time.Second, "the rebalance B's join starts", func() bool { return heartbeat(a, ra) == sarama.ErrRebalanceInProgress })
	if ra, err = join(a, ra.MemberId, 1); err != nil {
		t.Fatal(err)
	}
	rb := <-rbc
	if rb == nil {
		t.FailNow()
	}
	both := make(chan struct{})
	go func() { defer close(both); sync(b, rb) }()
	sync(a, ra)
	<-both

	// B heartbeats and never joins again; A joins with new metadata, which starts a rebalance.
	stop := make(chan struct{})
	defer close(stop)
	hb := conn()
	defer hb.Close()
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(session / 5):
				hb.Heartbeat(&sarama.HeartbeatRequest{Version: 3, GroupId: group, GenerationId: rb.GenerationId, MemberId: rb.MemberId})
			}
		}
	}()
	t0 := time.Now()
	r, err := join(a, ra.MemberId, 2)
	var ne net.Error
	switch {
	case err == nil:
		t.Logf("session %s, rebalance %s: A's JoinGroup answered after %s (generation %d, leader %v)",
			session, rebalance, time.Since(t0).Round(10*time.Millisecond), r.GenerationId, r.LeaderId == r.MemberId)
		return true
	case errors.As(err, &ne) && ne.Timeout():
		t.Logf("session %s, rebalance %s: A's JoinGroup not answered in %s", session, rebalance, time.Since(t0).Round(10*time.Millisecond))
		return false
	default:
		t.Fatalf("join: %v", err)
		return false
	}
}
