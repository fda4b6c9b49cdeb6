package placement

import (
	"encoding/json"
	"testing"

	"github.com/IBM/sarama"
)

func member(t *testing.T, topics []string, capacity float64, parts ...ReportedPartition) sarama.ConsumerGroupMemberMetadata {
	t.Helper()
	ud, err := json.Marshal(MemberReport{Capacity: capacity, Partitions: parts})
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
	plan := PlanByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": {Topics: in}, "b": {Topics: in}, "c": {Topics: in}}, eight)
	if c := count(plan); assigned(plan) != 8 || c["a"] < 2 || c["a"] > 3 || c["b"] < 2 || c["b"] > 3 || c["c"] < 2 || c["c"] > 3 {
		t.Fatalf("without reports: %v", c)
	}

	// One member owned everything and measured skewed loads; a second and third joined.
	loads := map[int32]float64{0: 3, 1: 3, 2: 2, 3: 2, 4: 1, 5: 1}
	var owned []ReportedPartition
	for p, l := range loads {
		owned = append(owned, ReportedPartition{Topic: "in", Partition: p, Load: l})
	}
	six := map[string][]int32{"in": {0, 1, 2, 3, 4, 5}}
	plan = PlanByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": member(t, in, 1, owned...), "b": member(t, in, 1), "c": member(t, in, 1)}, six)
	pl := planLoads(plan, loads)
	for id, l := range pl {
		if l < 4*0.75 || l > 4*1.25 {
			t.Fatalf("member %s carries %.1f of 12 over 3 members: %v (plan %v)", id, l, pl, plan)
		}
	}

	// Stickiness: with balanced owners nothing moves.
	plan = PlanByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": member(t, in, 1, ReportedPartition{"in", 0, 3}, ReportedPartition{"in", 5, 1}),
		"b": member(t, in, 1, ReportedPartition{"in", 1, 3}, ReportedPartition{"in", 4, 1}),
		"c": member(t, in, 1, ReportedPartition{"in", 2, 2}, ReportedPartition{"in", 3, 2})}, six)
	want := map[string][]int32{"a": {0, 5}, "b": {1, 4}, "c": {2, 3}}
	for id, ps := range want {
		got := plan[id]["in"]
		if len(got) != 2 || !(got[0] == ps[0] && got[1] == ps[1] || got[0] == ps[1] && got[1] == ps[0]) {
			t.Fatalf("balanced owners moved: %v", plan)
		}
	}

	// Capacity: a member with two readers' worth of workers takes twice the load.
	flat := map[int32]float64{0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
	plan = PlanByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"big": member(t, in, 2), "small": member(t, in, 1)}, six)
	if pl := planLoads(plan, flat); pl["big"] != 4 || pl["small"] != 2 {
		t.Fatalf("capacity 2:1 got %v", pl)
	}

	// A member is only given partitions of topics it subscribes to.
	plan = PlanByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": member(t, []string{"in"}, 1), "b": member(t, []string{"other"}, 1)},
		map[string][]int32{"in": {0, 1}, "other": {0}})
	if len(plan["a"]["in"]) != 2 || len(plan["b"]["other"]) != 1 || len(plan["b"]["in"]) != 0 {
		t.Fatalf("subscriptions ignored: %v", plan)
	}

	// Garbage user data counts as no report.
	plan = PlanByLoad(map[string]sarama.ConsumerGroupMemberMetadata{
		"a": {Topics: in, UserData: []byte("\x00junk")}, "b": {Topics: in}}, eight)
	if c := count(plan); c["a"] != 4 || c["b"] != 4 {
		t.Fatalf("with junk user data: %v", c)
	}
}
