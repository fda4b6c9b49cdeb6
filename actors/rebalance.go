package actors

import (
	"context"
	"errors"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// rebalanceBuckets (seconds): a cooperative group moves in well under a second, an eager one
// waits for every member (a heartbeat interval or two), a lost member costs a session timeout.
var rebalanceBuckets = []float64{.1, .25, .5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 120}

// Why a reader's group session ended. Each names what the reader was told, in sarama's terms.
const (
	causeStart          = "start"            // the reader's first join
	causeGroupRebalance = "group_rebalance"  // the coordinator started a rebalance: a member joined, left or expired
	causeMemberExpired  = "member_expired"   // the coordinator no longer knows this member (its session expired) or its generation
	causePartitions     = "partitions_added" // a subscribed topic gained partitions
	causeConsumeError   = "consume_error"    // a partition's consumer stopped
	causeCoordinator    = "coordinator_error"
)

// rebalanceCauses lists every cause, so that each has a series from the start.
var rebalanceCauses = []string{causeStart, causeGroupRebalance, causeMemberExpired, causePartitions, causeConsumeError, causeCoordinator}

// sessionEndCause maps the cause sarama cancelled a session with to one of the causes above;
// "" when the session ended because the process stops (not a rebalance).
func sessionEndCause(cause error) string {
	switch {
	case cause == nil, errors.Is(cause, context.Canceled):
		return ""
	case errors.Is(cause, sarama.ErrRebalanceInProgress):
		return causeGroupRebalance
	case errors.Is(cause, sarama.ErrUnknownMemberId), errors.Is(cause, sarama.ErrIllegalGeneration), errors.Is(cause, sarama.ErrFencedInstancedId):
		return causeMemberExpired
	case errors.Is(cause, sarama.ErrSessionPartitionCountChanged):
		return causePartitions
	case errors.Is(cause, sarama.ErrSessionConsumeClaimExited):
		return causeConsumeError
	default:
		return causeCoordinator
	}
}

// rebalanceStats counts the readers' rebalances by cause and times them: from the moment a
// session ended (or the reader first asked to join) to the moment the reader's next session got
// its partitions. Sessions end and start on sarama's goroutines, one reader at a time each.
type rebalanceStats struct {
	started  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newRebalanceStats() *rebalanceStats {
	s := &rebalanceStats{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_rebalances_total",
			Help: "Group rebalances a reader went through, by what started them (counted when the session ends; start: the first join).",
		}, []string{"cause"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_rebalance_duration_seconds",
			Help:    "Time a reader consumed nothing during a rebalance: from its session's end (or its first join) to its next session's assignment, by cause.",
			Buckets: rebalanceBuckets,
		}, []string{"cause"}),
	}
	for _, c := range rebalanceCauses {
		s.started.WithLabelValues(c)
		s.duration.WithLabelValues(c)
	}
	return s
}

// readerRebalance is one reader's open rebalance: when and why its last session ended.
type readerRebalance struct {
	since time.Time
	cause string
}

// joining records that a reader asks to join for the first time.
func (s *rebalanceStats) joining(r *readerRebalance, now time.Time) {
	*r = readerRebalance{since: now, cause: causeStart}
	s.started.WithLabelValues(causeStart).Inc()
}

// ended records that a reader's session ended with cause (sarama's), unless the process stops;
// it reports whether a rebalance began.
func (s *rebalanceStats) ended(r *readerRebalance, cause error, now time.Time) bool {
	c := sessionEndCause(cause)
	if c == "" {
		return false
	}
	*r = readerRebalance{since: now, cause: c}
	s.started.WithLabelValues(c).Inc()
	return true
}

// assigned records that a reader's new session has its partitions; it returns how long the
// reader waited and why (0, "" when no rebalance was open).
func (s *rebalanceStats) assigned(r *readerRebalance, now time.Time) (time.Duration, string) {
	if r.cause == "" {
		return 0, ""
	}
	d, c := now.Sub(r.since), r.cause
	s.duration.WithLabelValues(c).Observe(d.Seconds())
	*r = readerRebalance{}
	return d, c
}
