package placement

// The consumer group's side of placement: which member of the group (a reader of some process)
// consumes which partition, planned by the group's leader from what every member reports.

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/IBM/sarama"
)

// MemberReport is what a member of a consumer group using the load-aware assignor reports in
// its subscription's user data: its capacity (the workers behind it) and the partitions it owns
// with their measured load.
type MemberReport struct {
	Capacity   float64             `json:"capacity"`
	Partitions []ReportedPartition `json:"partitions"`
}

// ReportedPartition is one owned partition and its load (bytes per second).
type ReportedPartition struct {
	Topic     string  `json:"t"`
	Partition int32   `json:"p"`
	Load      float64 `json:"l"`
}

// PlanByLoad is the group leader's assignment under the load-aware assignor, a pure function of
// the members' reports: partitions longest first, each to the eligible member with the least load
// per capacity, except that a partition stays on its owner while that owner stays within
// StickySlack of its fair share. Partitions nobody measured weigh the mean of those measured.
func PlanByLoad(members map[string]sarama.ConsumerGroupMemberMetadata, topics map[string][]int32) sarama.BalanceStrategyPlan {
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	capacity := map[string]float64{}
	owner := map[Key]string{}
	reported := map[Key]float64{}
	for _, id := range ids {
		var rep MemberReport
		_ = json.Unmarshal(members[id].UserData, &rep) // a member without a report has capacity 1
		capacity[id] = rep.Capacity
		if capacity[id] <= 0 {
			capacity[id] = 1
		}
		for _, p := range rep.Partitions {
			k := Key{Topic: p.Topic, Partition: p.Partition}
			if _, taken := owner[k]; !taken {
				owner[k] = id
			}
			reported[k] = max(reported[k], p.Load)
		}
	}
	var parts []Load
	var known, sum float64
	for topic, ps := range topics {
		for _, p := range ps {
			k := Key{Topic: topic, Partition: p}
			if l := reported[k]; l > 0 {
				known++
				sum += l
			}
			parts = append(parts, Load{Key: k})
		}
	}
	// Partitions nobody measured yet weigh the mean of those measured (1 when none were).
	unknown := 1.0
	if known > 0 {
		unknown = sum / known
	}
	var total float64
	for i := range parts {
		if l := reported[parts[i].Key]; l > 0 {
			parts[i].Load = l
		} else {
			parts[i].Load = unknown
		}
		total += parts[i].Load
	}
	slices.SortFunc(parts, func(a, b Load) int {
		if c := cmp.Compare(b.Load, a.Load); c != 0 {
			return c
		}
		if c := strings.Compare(a.Key.Topic, b.Key.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Key.Partition, b.Key.Partition)
	})
	var capSum float64
	for _, id := range ids {
		capSum += capacity[id]
	}
	assigned := map[string]float64{}
	count := map[string]int{}
	plan := sarama.BalanceStrategyPlan{}
	for _, p := range parts {
		var eligible []string
		for _, id := range ids {
			if slices.Contains(members[id].Topics, p.Key.Topic) {
				eligible = append(eligible, id)
			}
		}
		if len(eligible) == 0 {
			continue
		}
		pick := ""
		if o, ok := owner[p.Key]; ok && slices.Contains(eligible, o) &&
			assigned[o]+p.Load <= total*capacity[o]/capSum*(1+StickySlack) {
			pick = o
		}
		if pick == "" {
			for _, id := range eligible {
				if pick == "" {
					pick = id
					continue
				}
				a, b := (assigned[id]+p.Load)/capacity[id], (assigned[pick]+p.Load)/capacity[pick]
				if a < b || (a == b && count[id] < count[pick]) {
					pick = id
				}
			}
		}
		assigned[pick] += p.Load
		count[pick]++
		plan.Add(pick, p.Key.Topic, p.Key.Partition)
	}
	return plan
}
