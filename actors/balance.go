package actors

import (
	"github.com/sluicehq/sluice/placement"

	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/IBM/sarama"
)

// loadBalanceStrategy is the consumer group's load-aware assignor (kafka { balance = "load" }):
// the fleet-level counterpart of the coordinator. Before every join each member reports, in its
// subscription's user data, the partitions it owns with their measured load and its capacity
// (the workers behind it); the leader assigns partitions longest first to the member with the
// least load per capacity, keeping a partition on its owner while that owner stays within
// placement.StickySlack of its fair share. With no load reported yet every partition weighs the same, so it
// behaves like a sticky assignor that balances partition counts.
type loadBalanceStrategy struct {
	claims *claimRegistry
	reader int
	// capacity is the workers behind each reader (workers / readers).
	capacity float64
	// static is true with static membership (kafka { instance_id }).
	static bool
}

// loadStrategyName is the protocol name members agree on.
const loadStrategyName = "sluice-load"

// memberReport is a member's subscription user data.
type memberReport struct {
	Capacity   float64             `json:"capacity"`
	Partitions []reportedPartition `json:"partitions"`
}

type reportedPartition struct {
	Topic     string  `json:"t"`
	Partition int32   `json:"p"`
	Load      float64 `json:"l"`
}

func (s *loadBalanceStrategy) Name() string { return loadStrategyName }

// SubscriptionUserData reports the partitions of this reader's latest session with their last
// measured loads; sarama calls it before every JoinGroup, when that session's claims have ended,
// so the leader plans with the figures each member measured until the rebalance.
func (s *loadBalanceStrategy) SubscriptionUserData(topics []string) ([]byte, error) {
	rep := memberReport{Capacity: s.capacity}
	if s.static {
		// Static membership: a member that rejoins with the same metadata keeps its partitions
		// without a rebalance. Loads change between joins (and a restarted process has none), so
		// they are left out and the leader plans by count (docs/fleet.md).
		return json.Marshal(rep)
	}
	rep.Partitions = s.claims.ownedBy(s.reader)
	return json.Marshal(rep)
}

func (s *loadBalanceStrategy) Plan(members map[string]sarama.ConsumerGroupMemberMetadata, topics map[string][]int32) (sarama.BalanceStrategyPlan, error) {
	return planByLoad(members, topics), nil
}

func (s *loadBalanceStrategy) AssignmentData(string, map[string][]int32, int32) ([]byte, error) {
	return nil, nil
}

// planByLoad is the leader's assignment, a pure function of the members' reports.
func planByLoad(members map[string]sarama.ConsumerGroupMemberMetadata, topics map[string][]int32) sarama.BalanceStrategyPlan {
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	capacity := map[string]float64{}
	owner := map[placement.Key]string{}
	reported := map[placement.Key]float64{}
	for _, id := range ids {
		var rep memberReport
		_ = json.Unmarshal(members[id].UserData, &rep) // a member without a report has capacity 1
		capacity[id] = rep.Capacity
		if capacity[id] <= 0 {
			capacity[id] = 1
		}
		for _, p := range rep.Partitions {
			k := placement.Key{Topic: p.Topic, Partition: p.Partition}
			if _, taken := owner[k]; !taken {
				owner[k] = id
			}
			reported[k] = max(reported[k], p.Load)
		}
	}
	var parts []placement.Load
	var known, sum float64
	for topic, ps := range topics {
		for _, p := range ps {
			k := placement.Key{Topic: topic, Partition: p}
			if l := reported[k]; l > 0 {
				known++
				sum += l
			}
			parts = append(parts, placement.Load{Key: k})
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
	slices.SortFunc(parts, func(a, b placement.Load) int {
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
			assigned[o]+p.Load <= total*capacity[o]/capSum*(1+placement.StickySlack) {
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

// balanceStrategy returns the group strategy kafka.balance names.
func balanceStrategy(d *readerDeps, reader int) sarama.BalanceStrategy {
	switch d.cfg.Kafka.Balance {
	case "sticky":
		return sarama.NewBalanceStrategySticky()
	case "range":
		return sarama.NewBalanceStrategyRange()
	case "roundrobin":
		return sarama.NewBalanceStrategyRoundRobin()
	default:
		return &loadBalanceStrategy{claims: d.claims, reader: reader,
			capacity: float64(len(d.workerPIDs)) / float64(max(1, d.readers)), static: d.cfg.Kafka.InstanceID != ""}
	}
}
