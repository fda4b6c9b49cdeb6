package main

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/messages"
)

// TestTailLatencyFigures: tail -latency's line counts every datapoint and takes each one's age
// from its own timestamp, per interval and in all.
func TestTailLatencyFigures(t *testing.T) {
	var s ageStats
	var rows messages.Rows
	for _, ts := range []int64{1000, 1500, 1900} {
		rows.Points = append(rows.Points, messages.Datapoint{Timestamp: ts})
	}
	s.add(&rows, 2000) // ages 1000, 500 and 100 ms
	var b strings.Builder
	s.print(&b, "interval")
	if got := b.String(); !strings.HasPrefix(got, "interval: 3 datapoints, age when readable: mean 533ms,") || !strings.Contains(got, "min 100ms, max 1s") {
		t.Errorf("got %q", got)
	}
	s.interval = ageCounts{}
	b.Reset()
	s.print(&b, "interval")
	s.print(&b, "total")
	if got := b.String(); !strings.HasPrefix(got, "interval: no datapoints\ntotal: 3 datapoints") {
		t.Errorf("got %q", got)
	}
}
