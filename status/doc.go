// Package status is what a running task shows of itself at a glance: the document served at
// GET /api/v1/status, the page at GET / that draws it, and the terminal summary of sluice
// status. Every figure is read from the process's own metrics registry (the numbers /metrics
// serves) and from the log lines it writes (its recent events); nothing here touches the
// pipeline's hot path.
package status

import "time"

// SchemaVersion is Doc.Schema: it changes only when a field is removed or changes meaning;
// fields may be added within a version.
const SchemaVersion = 1

// Doc is the status document. Rates are per second over the status sampler's last interval
// (about 2 s); counters are totals since the process started, as on /metrics.
type Doc struct {
	Schema        int       `json:"schema"`
	Time          time.Time `json:"time"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Version       string    `json:"version"`
	// Health and Ready are "ok" or why not: /healthz and /readyz.
	Health string `json:"health"`
	Ready  string `json:"ready"`

	Flow       Flow        `json:"flow"`
	Partitions []Partition `json:"partitions"`
	Workers    []Worker    `json:"workers"`
	Pools      []Pool      `json:"pools"`
	Outputs    []Output    `json:"outputs"`
	Limits     []Limit     `json:"limits"`
	Shedding   Shedding    `json:"shedding"`
	Control    Control     `json:"control"`
	Memory     Memory      `json:"memory"`
	Events     []Event     `json:"events"`
}

// Flow is what goes through: datapoints in (decoded) and out (acknowledged by the outputs; a
// datapoint written to two outputs counts twice), and drops by reason.
type Flow struct {
	DatapointsIn     int64            `json:"datapoints_in"`
	DatapointsOut    int64            `json:"datapoints_out"`
	RecordsIn        int64            `json:"records_in"`
	InPerSecond      float64          `json:"in_per_second"`
	OutPerSecond     float64          `json:"out_per_second"`
	DroppedPerSecond float64          `json:"dropped_per_second"`
	Dropped          map[string]int64 `json:"dropped"` // by reason (sluice_dropped_total summed over formats)
	LatencyP99       float64          `json:"latency_p99_seconds"`
	// History is the last few minutes, oldest first, one sample per sampler interval.
	History []FlowSample `json:"history"`
}

// FlowSample is one interval's rates.
type FlowSample struct {
	Time    int64   `json:"t"` // unix milliseconds at the interval's end
	In      float64 `json:"in"`
	Out     float64 `json:"out"`
	Dropped float64 `json:"dropped"`
}

// Partition is one input partition this process consumes now.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Reader    int    `json:"reader"`
	// Workers are the workers its batches go to: one, or several when the coordinator spread it
	// (hot).
	Workers          []int   `json:"workers"`
	Hot              bool    `json:"hot"`
	Lag              int64   `json:"lag_records"`
	LagSeconds       float64 `json:"lag_seconds"` // freshness: now minus its oldest unacknowledged record's timestamp
	CommitAgeSeconds float64 `json:"commit_age_seconds"`
	RecordsPerSecond float64 `json:"records_per_second"`
	LoadBytesPerSec  float64 `json:"load_bytes_per_second"` // the coordinator's measure, 0 when it does not run
}

// Worker is one worker's load.
type Worker struct {
	ID int `json:"id"`
	// Busy is the share of the last interval it spent on batches (0–1).
	Busy    float64 `json:"busy"`
	Mailbox int64   `json:"mailbox"`
}

// Pool is a batch pool: batches taken against its size.
type Pool struct {
	Name  string `json:"name"`
	InUse int64  `json:"in_use"`
	Size  int64  `json:"size"`
}

// Output is one configured output.
type Output struct {
	Name             string           `json:"name"`
	Datapoints       int64            `json:"datapoints"`
	PerSecond        float64          `json:"per_second"`
	Errors           map[string]int64 `json:"errors"` // by kind: retryable, permanent
	Rejected         int64            `json:"rejected_datapoints"`
	WriteMeanSeconds float64          `json:"write_mean_seconds"` // over the last interval; 0 when nothing was written
	WriteP99Seconds  float64          `json:"write_p99_seconds"`  // since start, a histogram bucket's upper bound
	LastError        string           `json:"last_error,omitempty"`
	LastErrorTime    *time.Time       `json:"last_error_time,omitempty"`
	Endpoints        []Endpoint       `json:"endpoints,omitempty"`
}

// Endpoint is one HTTP output URL and its circuit breaker. The URL is shown as /metrics shows
// it: its password and query values are "xxxxx".
type Endpoint struct {
	URL     string `json:"url"`
	Breaker string `json:"breaker"` // closed, open, half_open
	OK      int64  `json:"ok"`
	Failed  int64  `json:"failed"`
	Opens   int64  `json:"opens"`
}

// Limit is one cardinality budget value: its series against its maximum, and what it dropped.
type Limit struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Series   int64  `json:"series"`
	Admitted int64  `json:"admitted"`
	Max      int64  `json:"max"`
	Dropped  int64  `json:"dropped"`
}

// Shedding is the overload shedder: the fraction of each class's series kept, and what was shed.
type Shedding struct {
	Factors map[string]float64 `json:"factors"`
	Shed    map[string]int64   `json:"shed"` // by class
}

// Control is the control topic's state.
type Control struct {
	Version      int64      `json:"version"` // 0: none applied (the file's settings run)
	Rejected     int64      `json:"rejected"`
	LastRejected string     `json:"last_rejected,omitempty"`
	RejectedTime *time.Time `json:"last_rejected_time,omitempty"`
	Reloads      int64      `json:"reloads"`
}

// Memory is the memory budget by part against what the process uses.
type Memory struct {
	Budget     map[string]int64 `json:"budget"` // bytes by part
	BudgetSum  int64            `json:"budget_total"`
	RSS        int64            `json:"rss"`
	SoftLimit  int64            `json:"soft_limit"`
	HeapInUse  int64            `json:"heap"`
	GCCPUShare float64          `json:"gc_cpu_share"` // GC's share of the process's CPU over the last interval
	CPUCores   float64          `json:"cpu_cores"`    // CPU seconds per second over the last interval
}

// Event is a log line worth seeing later: reloads, routing changes, budget trips, restarts,
// warnings and errors.
type Event struct {
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}
