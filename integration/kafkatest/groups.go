package kafkatest

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupLogName is the file in a broker process's data directory where it logs the group
// requests it receives (kfake logs little of its classic group coordinator).
const groupLogName = "group-requests.log"

// ExpireSilentMembers makes kfake's classic group coordinator expire members as Kafka does, and
// logs each JoinGroup, SyncGroup, LeaveGroup and Heartbeat request to log.
//
// kfake starts a member's session timer only when its JoinGroup response has been delivered.
// A process killed while its JoinGroup waits for the rebalance to complete leaves a member
// whose response cannot be delivered: kfake keeps it in the group for good, with partitions
// assigned that nobody consumes, until some other member rejoins. Kafka schedules the member's
// session expiry when the join completes, whether or not the response arrives, and removes it
// a session timeout later. This reproduces that from the outside: a member that has sent no
// request for longer than its session timeout (a live one heartbeats every few seconds, and
// waits in JoinGroup or SyncGroup at most the rebalance timeout, which is shorter) is removed
// with a LeaveGroup, as Kafka's expiry would remove it. TestKfakeKeepsMemberWhoseJoinReplyFailed
// shows the difference. The returned function stops the expiring (not the logging).
func ExpireSilentMembers(c *kfake.Cluster, log io.Writer) (stop func()) {
	type member struct {
		group   string
		last    time.Time
		session time.Duration
	}
	var (
		mu      sync.Mutex
		members = map[string]*member{}
		logf    = func(format string, args ...any) {
			fmt.Fprintf(log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
		}
	)
	seen := func(group, id string, session time.Duration) {
		if id == "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		m := members[id]
		if m == nil {
			m = &member{group: group, session: 10 * time.Second}
			members[id] = m
		}
		m.last = time.Now()
		if session > 0 {
			m.session = session
		}
	}
	for _, key := range []int16{11, 12, 13, 14} { // JoinGroup, Heartbeat, LeaveGroup, SyncGroup
		c.ControlKey(key, func(r kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			switch r := r.(type) {
			case *kmsg.JoinGroupRequest:
				logf("JoinGroup v%d member=%q rebalance=%dms session=%dms", r.Version, r.MemberID, r.RebalanceTimeoutMillis, r.SessionTimeoutMillis)
				seen(r.Group, r.MemberID, time.Duration(r.SessionTimeoutMillis)*time.Millisecond)
			case *kmsg.SyncGroupRequest:
				logf("SyncGroup member=%q generation=%d assignments=%d", r.MemberID, r.Generation, len(r.GroupAssignment))
				seen(r.Group, r.MemberID, 0)
			case *kmsg.HeartbeatRequest:
				logf("Heartbeat member=%q generation=%d", r.MemberID, r.Generation)
				seen(r.Group, r.MemberID, 0)
			case *kmsg.LeaveGroupRequest:
				ids := []string{r.MemberID}
				for _, m := range r.Members {
					ids = append(ids, m.MemberID)
				}
				logf("LeaveGroup members=%q", ids)
				mu.Lock()
				for _, id := range ids {
					delete(members, id)
				}
				mu.Unlock()
			}
			return nil, nil, false
		})
	}
	done := make(chan struct{})
	go func() {
		var b *sarama.Broker
		defer func() {
			if b != nil {
				b.Close()
			}
		}()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			mu.Lock()
			var silent []string
			groups := map[string]string{}
			for id, m := range members {
				if d := time.Since(m.last); d > m.session+time.Second {
					silent = append(silent, id)
					groups[id] = m.group
					logf("expiring member=%q: no request for %s, over its %s session (kfake would keep it)", id, d.Round(time.Millisecond), m.session)
				}
			}
			mu.Unlock()
			for _, id := range silent {
				if b == nil {
					b = sarama.NewBroker(c.ListenAddrs()[0])
					cfg := sarama.NewConfig()
					cfg.Version = Version
					if err := b.Open(cfg); err != nil {
						logf("expiring: %v", err)
						b = nil
						break
					}
				}
				resp, err := b.LeaveGroup(&sarama.LeaveGroupRequest{Version: 3, GroupId: groups[id],
					Members: []sarama.MemberIdentity{{MemberId: id}}})
				if err != nil {
					logf("expiring member=%q: %v", id, err)
					b.Close()
					b = nil
					continue
				}
				for _, m := range resp.Members {
					if m.Err == sarama.ErrNoError {
						logf("expired member=%q", m.MemberId)
					} else {
						logf("member=%q was gone already: %v", m.MemberId, m.Err)
					}
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
