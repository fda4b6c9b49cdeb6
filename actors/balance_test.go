package actors

import (
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/placement"

	"encoding/json"
	"maps"
	"testing"

	"github.com/IBM/sarama"
	"github.com/asynkron/protoactor-go/actor"
)

func member(t *testing.T, topics []string, capacity float64, parts ...reportedPartition) sarama.ConsumerGroupMemberMetadata {
	t.Helper()
	ud, err := json.Marshal(memberReport{Capacity: capacity, Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	return sarama.ConsumerGroupMemberMetadata{Topics: topics, UserData: ud}
}

// planLoads sums each member's planned load under loads (partition → load).
func planLoads(plan sarama.BalanceStrategyPlan, loads map[int32]float64) map[string]float64 {
	out := map[string]float64{}
	for id, byTopic := range plan {
		for _, ps := range byTopic {
			for _, p := range ps {
				out[id] += loads[p]
			}
		}
	}
	return out
}

func TestPlanByLoad(t *testing.T) {
	in := []string{"in"}
	eight := map[string][]int32{"in": {0, 1, 2, 3, 4, 5, 6, 7}}
	count := func(plan sarama.BalanceStrategyPlan) map[string]int {
		out := map[string]int{}
		for id, byTopic := range plan {
			out[id] = len(byTopic["in"])
		}
		return out
	}
	assigned := func(plan sarama.BalanceStrategyPlan) int {
		n := 0
		for _, c := range count(plan) {
			n += c
		}
		return n
	}

	// No reports yet (a first join): partition counts balanced.
	plan := planByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": {Topics: in}, "b": {Topics: in}, "c": {Topics: in}}, eight)
	if c := count(plan); assigned(plan) != 8 || c["a"] < 2 || c["a"] > 3 || c["b"] < 2 || c["b"] > 3 || c["c"] < 2 || c["c"] > 3 {
		t.Fatalf("without reports: %v", c)
	}

	// One member owned everything and measured skewed loads; a second and third joined.
	loads := map[int32]float64{0: 3, 1: 3, 2: 2, 3: 2, 4: 1, 5: 1}
	var owned []reportedPartition
	for p, l := range loads {
		owned = append(owned, reportedPartition{Topic: "in", Partition: p, Load: l})
	}
	six := map[string][]int32{"in": {0, 1, 2, 3, 4, 5}}
	plan = planByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": member(t, in, 1, owned...), "b": member(t, in, 1), "c": member(t, in, 1)}, six)
	pl := planLoads(plan, loads)
	for id, l := range pl {
		if l < 4*0.75 || l > 4*1.25 {
			t.Fatalf("member %s carries %.1f of 12 over 3 members: %v (plan %v)", id, l, pl, plan)
		}
	}

	// Stickiness: with balanced owners nothing moves.
	plan = planByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": member(t, in, 1, reportedPartition{"in", 0, 3}, reportedPartition{"in", 5, 1}),
		"b": member(t, in, 1, reportedPartition{"in", 1, 3}, reportedPartition{"in", 4, 1}),
		"c": member(t, in, 1, reportedPartition{"in", 2, 2}, reportedPartition{"in", 3, 2})}, six)
	want := map[string][]int32{"a": {0, 5}, "b": {1, 4}, "c": {2, 3}}
	for id, ps := range want {
		got := plan[id]["in"]
		if len(got) != 2 || !(got[0] == ps[0] && got[1] == ps[1] || got[0] == ps[1] && got[1] == ps[0]) {
			t.Fatalf("balanced owners moved: %v", plan)
		}
	}

	// Capacity: a member with two readers' worth of workers takes twice the load.
	flat := map[int32]float64{0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
	plan = planByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"big": member(t, in, 2), "small": member(t, in, 1)}, six)
	if pl := planLoads(plan, flat); pl["big"] != 4 || pl["small"] != 2 {
		t.Fatalf("capacity 2:1 got %v", pl)
	}

	// A member is only given partitions of topics it subscribes to.
	plan = planByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": member(t, []string{"in"}, 1), "b": member(t, []string{"other"}, 1)},
		map[string][]int32{"in": {0, 1}, "other": {0}})
	if len(plan["a"]["in"]) != 2 || len(plan["b"]["other"]) != 1 || len(plan["b"]["in"]) != 0 {
		t.Fatalf("subscriptions ignored: %v", plan)
	}

	// Garbage user data counts as no report.
	plan = planByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": {Topics: in, UserData: []byte("\x00junk")}, "b": {Topics: in}}, eight)
	if c := count(plan); c["a"] != 4 || c["b"] != 4 {
		t.Fatalf("with junk user data: %v", c)
	}
}

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
		var rep memberReport
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
