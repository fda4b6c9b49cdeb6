package fleet

// The topics, group and shard count the fleet tests' configurations use.
const (
	outTopic = "metrics.shards"
	group    = "sluice-test"
	shards   = 8
)
