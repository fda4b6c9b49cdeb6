package actors

import (
	"encoding/json"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/placement"
)

// loadBalanceStrategy is the consumer group's load-aware assignor (kafka { balance = "load" }):
// the fleet-level counterpart of the coordinator. Before every join each member reports, in its
// subscription's user data, the partitions it owns with their measured load and its capacity
// (the workers behind it); the leader plans with placement.PlanByLoad. With no load reported yet
// every partition weighs the same, so it behaves like a sticky assignor that balances partition
// counts.
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

func (s *loadBalanceStrategy) Name() string { return loadStrategyName }

// SubscriptionUserData reports the partitions of this reader's latest session with their last
// measured loads; sarama calls it before every JoinGroup, when that session's claims have ended,
// so the leader plans with the figures each member measured until the rebalance.
func (s *loadBalanceStrategy) SubscriptionUserData(topics []string) ([]byte, error) {
	rep := placement.MemberReport{Capacity: s.capacity}
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
	return placement.PlanByLoad(members, topics), nil
}

func (s *loadBalanceStrategy) AssignmentData(string, map[string][]int32, int32) ([]byte, error) {
	return nil, nil
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
