package actors

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestSessionEndCause(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{context.Canceled, ""},
		{sarama.ErrRebalanceInProgress, causeGroupRebalance},
		{fmt.Errorf("heartbeat: %w", sarama.ErrRebalanceInProgress), causeGroupRebalance},
		{sarama.ErrUnknownMemberId, causeMemberExpired},
		{sarama.ErrIllegalGeneration, causeMemberExpired},
		{sarama.ErrFencedInstancedId, causeMemberExpired},
		{sarama.ErrSessionPartitionCountChanged, causePartitions},
		{sarama.ErrSessionConsumeClaimExited, causeConsumeError},
		{sarama.ErrSessionHeartbeatFailed, causeCoordinator},
		{errors.New("read tcp: i/o timeout"), causeCoordinator},
	} {
		if got := sessionEndCause(c.err); got != c.want {
			t.Errorf("sessionEndCause(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestRebalanceStats(t *testing.T) {
	s := newRebalanceStats()
	var r readerRebalance
	t0 := time.Unix(1000, 0)
	if d, c := s.assigned(&r, t0); d != 0 || c != "" {
		t.Fatalf("assigned without an open rebalance: %v %q", d, c)
	}
	s.joining(&r, t0)
	if d, c := s.assigned(&r, t0.Add(3*time.Second)); d != 3*time.Second || c != causeStart {
		t.Fatalf("first join: %v %q, want 3s start", d, c)
	}
	if !s.ended(&r, sarama.ErrRebalanceInProgress, t0.Add(10*time.Second)) {
		t.Fatal("a rebalance did not open a rebalance")
	}
	if d, c := s.assigned(&r, t0.Add(12*time.Second)); d != 2*time.Second || c != causeGroupRebalance {
		t.Fatalf("rebalance: %v %q, want 2s group_rebalance", d, c)
	}
	if s.ended(&r, context.Canceled, t0.Add(20*time.Second)) { // the process stops: no rebalance
		t.Fatal("a stop opened a rebalance")
	}
	if d, c := s.assigned(&r, t0.Add(21*time.Second)); c != "" {
		t.Fatalf("a stop opened a rebalance: %v %q", d, c)
	}
	for cause, want := range map[string]float64{causeGroupRebalance: 1, causeStart: 1, causeMemberExpired: 0} {
		var m dto.Metric
		if err := s.started.WithLabelValues(cause).Write(&m); err != nil {
			t.Fatal(err)
		}
		if n := m.GetCounter().GetValue(); n != want {
			t.Errorf("rebalances_total{%s} = %v, want %v", cause, n, want)
		}
	}
	ch := make(chan prometheus.Metric, 64)
	s.duration.Collect(ch)
	close(ch)
	series, observed := 0, uint64(0)
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		series++
		observed += pb.GetHistogram().GetSampleCount()
	}
	if series != len(rebalanceCauses) || observed != 2 {
		t.Errorf("%d duration series with %d observations, want one per cause (%d) and 2", series, observed, len(rebalanceCauses))
	}
}
