package actors

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/placement"
)

// TestReportOutlivesSession: sarama asks for the subscription user data at the next JoinGroup,
// after every claim of the old session has ended; the report must still name the partitions
// that session owned, with the loads last measured for them, and forget those of older sessions.
func TestReportOutlivesSession(t *testing.T) {
	reg := newClaimRegistry(2)
	cfg := config.Default()
	cfg.Kafka.Balance = "load"
	s, ok := balanceStrategy(&readerDeps{cfg: cfg, claims: reg, workerPIDs: make([]*actor.PID, 4), readers: 2}, 1).(*loadBalanceStrategy)
	if !ok {
		t.Fatal(`balance = "load" does not give the load-aware strategy`)
	}
	report := func() map[int32]float64 {
		t.Helper()
		raw, err := s.SubscriptionUserData([]string{"in"})
		if err != nil {
			t.Fatal(err)
		}
		var rep placement.MemberReport
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Capacity != 2 {
			t.Errorf("capacity = %v, want 4 workers / 2 readers", rep.Capacity)
		}
		out := map[int32]float64{}
		for _, p := range rep.Partitions {
			out[p.Partition] = p.Load
		}
		return out
	}
	if got := report(); len(got) != 0 {
		t.Fatalf("a reader that never had a session reports %v", got)
	}

	reg.sessionStarted(1, map[string][]int32{"in": {0, 3}})
	reg.sessionStarted(0, map[string][]int32{"in": {1}}) // the other reader's partitions are not ours
	c0, c3 := newClaim(nil, "in", 0, 1), newClaim(nil, "in", 3, 1)
	reg.add(c0)
	reg.add(c3)
	reg.loads.Store(&map[placement.Key]float64{{Topic: "in", Partition: 0}: 500, {Topic: "in", Partition: 3}: 70})
	reg.remove(c0)
	reg.remove(c3)
	reg.loads.Store(&map[placement.Key]float64{}) // the coordinator forgot them at its next tick
	if got, want := report(), map[int32]float64{0: 500, 3: 70}; !maps.Equal(got, want) {
		t.Fatalf("after the session ended the report is %v, want %v", got, want)
	}

	// The next session owns 3 and 5: 3 keeps its last load until measured again, 0 is gone.
	reg.sessionStarted(1, map[string][]int32{"in": {3, 5}})
	if got, want := report(), map[int32]float64{3: 70, 5: 0}; !maps.Equal(got, want) {
		t.Fatalf("in the next session the report is %v, want %v", got, want)
	}
}
