package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
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

// kfake differs from Kafka in a second way that stalled the fleet test (a process killed twice
// in a row): a member whose JoinGroup response cannot be delivered, because its process died
// while the rebalance was completing, never gets a session timer, so it stays in the group with
// its partitions assigned and unconsumed until another member happens to rejoin. Kafka expires
// it a session timeout after the join completes. The test harness's broker process runs
// kafkatest.ExpireSilentMembers to behave as Kafka does; this test shows kfake without it (the
// member is kept) and with it (the member is expired and the group rebalances). If a kfake
// release expires the member on its own, the first half fails: then ExpireSilentMembers can go.
func TestKfakeKeepsMemberWhoseJoinReplyFailed(t *testing.T) {
	// The group's timeouts are short here because this test is about the broker, not Sluice.
	// kfake answers a JoinGroup on a closed connection with a select that may still queue the
	// response (then the member gets its session timer and expires) or see the connection gone
	// (then it is kept): a coin toss, so the first half tries until one toss keeps it.
	const session = 500 * time.Millisecond
	t.Run("kfake alone", func(t *testing.T) {
		for try := 1; try <= 30; try++ {
			if stays, _ := memberWithLostJoinReplyStays(t, false, session, 3*session); stays {
				t.Logf("try %d: kfake kept the member whose JoinGroup response was lost", try)
				return
			}
		}
		t.Fatal("in 30 tries kfake always expired the member whose JoinGroup response was lost: it now behaves as Kafka does (see the comment)")
	})
	t.Run("with ExpireSilentMembers", func(t *testing.T) {
		// Every try must end without B; the test goes on until one try had ExpireSilentMembers
		// remove a member kfake had kept.
		for try := 1; try <= 30; try++ {
			stays, removed := memberWithLostJoinReplyStays(t, true, session, session+3*time.Second)
			if stays {
				t.Fatalf("try %d: the member whose JoinGroup response was lost is still in the group", try)
			}
			if removed {
				t.Logf("try %d: ExpireSilentMembers removed the member kfake kept", try)
				return
			}
		}
		t.Fatal("in 30 tries ExpireSilentMembers never had a member to remove")
	})
}

// memberWithLostJoinReplyStays forms a group of A, makes B join it and close its connection
// while its JoinGroup waits, lets A complete the rebalance and heartbeat on, and reports
// whether B is still a member wait later, and (with expire) whether ExpireSilentMembers removed it.
func memberWithLostJoinReplyStays(t *testing.T, expire bool, session, wait time.Duration) (stays, removed bool) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var log lockedBuffer
	if expire {
		defer kafkatest.ExpireSilentMembers(c, &log)()
	}
	connTo := func(addr string) *sarama.Broker {
		cfg := sarama.NewConfig()
		cfg.Version = kafkatest.Version
		b := sarama.NewBroker(addr)
		if err := b.Open(cfg); err != nil {
			t.Fatal(err)
		}
		return b
	}
	conn := func() *sarama.Broker { return connTo(c.ListenAddrs()[0]) }
	const group = "g"
	joinReq := func(member string) *sarama.JoinGroupRequest {
		req := &sarama.JoinGroupRequest{Version: 5, GroupId: group, MemberId: member, ProtocolType: "consumer",
			SessionTimeout: int32(session / time.Millisecond), RebalanceTimeout: int32(3 * session / time.Millisecond)}
		req.AddGroupProtocol("range", []byte{0, 1})
		return req
	}
	join := func(b *sarama.Broker, member string) *sarama.JoinGroupResponse {
		resp, err := b.JoinGroup(joinReq(member))
		if err == nil && resp.Err == sarama.ErrMemberIdRequired {
			resp, err = b.JoinGroup(joinReq(resp.MemberId))
		}
		if err != nil || resp.Err != sarama.ErrNoError {
			t.Fatalf("join: %v %v", err, resp)
		}
		return resp
	}
	sync := func(b *sarama.Broker, r *sarama.JoinGroupResponse) {
		req := &sarama.SyncGroupRequest{Version: 3, GroupId: group, GenerationId: r.GenerationId, MemberId: r.MemberId}
		for _, m := range r.Members {
			req.AddGroupAssignment(m.MemberId, []byte{0})
		}
		if resp, err := b.SyncGroup(req); err != nil || resp.Err != sarama.ErrNoError {
			t.Fatalf("sync: %v %v", err, resp)
		}
	}
	members := func() []string {
		resp, err := conn().DescribeGroups(&sarama.DescribeGroupsRequest{Groups: []string{group}})
		if err != nil || len(resp.Groups) != 1 {
			t.Fatalf("describe: %v", err)
		}
		var ids []string
		for id := range resp.Groups[0].Members {
			ids = append(ids, id)
		}
		return ids
	}

	a := conn()
	defer a.Close()
	ra := join(a, "")
	sync(a, ra)

	// B gets its member id, joins with it and dies while the join waits for A: its connection
	// goes through a proxy that closes both ends at once, as the kernel does for a killed process.
	addr, kill := killableProxy(t, c.ListenAddrs()[0])
	b := connTo(addr)
	first, err := b.JoinGroup(joinReq(""))
	if err != nil || first.Err != sarama.ErrMemberIdRequired {
		t.Fatalf("B's first join: %v %v", err, first)
	}
	bID := first.MemberId
	go b.JoinGroup(joinReq(bID))
	kafkatest.WaitFor(t, 5*time.Second, "the rebalance B's join starts", func() bool {
		resp, err := a.Heartbeat(&sarama.HeartbeatRequest{Version: 3, GroupId: group, GenerationId: ra.GenerationId, MemberId: ra.MemberId})
		return err == nil && resp.Err == sarama.ErrRebalanceInProgress
	})
	kill()
	time.Sleep(100 * time.Millisecond) // the broker sees the connection closed
	ra = join(a, ra.MemberId)
	if len(ra.Members) != 2 {
		t.Fatalf("the rebalance completed with %d members, want A and B", len(ra.Members))
	}
	sync(a, ra)

	// A heartbeats as a live member does; B sends nothing.
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		resp, err := a.Heartbeat(&sarama.HeartbeatRequest{Version: 3, GroupId: group, GenerationId: ra.GenerationId, MemberId: ra.MemberId})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err == sarama.ErrRebalanceInProgress {
			ra = join(a, ra.MemberId)
			sync(a, ra)
		}
		time.Sleep(session / 5)
	}
	removed = strings.Contains(log.String(), fmt.Sprintf("expired member=%q", bID))
	for _, id := range members() {
		if id == bID {
			return true, removed
		}
	}
	return false, removed
}

// lockedBuffer is a bytes.Buffer that ExpireSilentMembers' goroutine writes while a test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// killableProxy forwards one connection to addr; kill closes both of its ends at once.
func killableProxy(t *testing.T, addr string) (string, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan [2]net.Conn, 1)
	go func() {
		defer l.Close()
		in, err := l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", addr)
		if err != nil {
			in.Close()
			return
		}
		go io.Copy(out, in)
		go io.Copy(in, out)
		conns <- [2]net.Conn{in, out}
	}()
	return l.Addr().String(), func() {
		select {
		case c := <-conns:
			c[0].Close()
			c[1].Close()
		case <-time.After(5 * time.Second):
			t.Fatal("nothing connected to the proxy")
		}
	}
}
