package fleet

import "github.com/sluicehq/sluice/integration/sluicetest"

// The topics, group and shard count of the crash harness's configurations (sluicetest.CrashHCL).
const (
	outTopic = sluicetest.OutTopic
	group    = sluicetest.Group
	shards   = sluicetest.Shards
)
