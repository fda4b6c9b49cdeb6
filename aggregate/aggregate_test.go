package aggregate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestNewSpecErrors(t *testing.T) {
	f := func(interval string, by, without, outputs []string, want string) {
		t.Helper()
		_, err := NewSpec(interval, by, without, outputs)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("NewSpec(%q, %v, %v, %v): %v, want an error containing %q", interval, by, without, outputs, err, want)
		}
	}
	f("1m", []string{"a"}, []string{"b"}, []string{SumSamples}, "by and without")
	f("1500ms", nil, nil, []string{SumSamples}, "whole number of seconds")
	f("500ms", nil, nil, []string{SumSamples}, "at least 1s")
	f("soon", nil, nil, []string{SumSamples}, `interval "soon"`)
	f("1m", nil, nil, nil, "outputs is empty")
	f("1m", nil, nil, []string{"sum"}, `unknown output "sum"`)
	f("1m", nil, nil, []string{Min, Min}, "listed twice")
	f("1m", nil, nil, []string{"stddev"}, "not computed yet")
	f("1m", nil, nil, []string{"quantiles(0.5, 1.5)"}, "must be a number in [0, 1]")
	f("1m", nil, nil, []string{"quantiles()"}, "at least one")
	f("1m", nil, nil, []string{"quantiles(0.5"}, "closing parenthesis")
	f("1m", nil, nil, []string{"quantiles(0.5)", "quantiles(0.9)"}, "listed twice")
}

// TestNames: vmagent's output names: by and without sorted, deduplicated, __name__ left out.
func TestNames(t *testing.T) {
	f := func(by, without []string, want string) {
		t.Helper()
		s, err := NewSpec("1m", by, without, []string{SumSamples})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Name("http.requests", SumSamples); got != want {
			t.Fatalf("by %v without %v: %q, want %q", by, without, got, want)
		}
	}
	f(nil, nil, "http.requests:1m_sum_samples")
	f([]string{"__name__"}, nil, "http.requests:1m_sum_samples")
	f([]string{"job", "abc", "job"}, nil, "http.requests:1m_by_abc_job_sum_samples")
	f(nil, []string{"pod", "instance"}, "http.requests:1m_without_instance_pod_sum_samples")
}

// series parses `name{a="1",b="2"}` (no commas or quotes inside values) into labels.
func series(s string) []Label {
	name, rest, _ := strings.Cut(s, "{")
	out := []Label{{"__name__", name}}
	for kv := range strings.SplitSeq(strings.TrimSuffix(rest, "}"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out = append(out, Label{k, strings.Trim(v, `"`)})
		}
	}
	return out
}

// flushed renders a window's output as sorted `name{labels} value` lines.
func flushed(w *Window) string {
	var lines []string
	w.Flush(func(name string, labels []Label, v float64) {
		var ls []string
		for _, l := range labels {
			ls = append(ls, fmt.Sprintf("%s=%q", l.Name, l.Value))
		}
		if len(ls) > 0 {
			name += "{" + strings.Join(ls, ",") + "}"
		}
		lines = append(lines, fmt.Sprintf("%s %g", name, v))
	})
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestWindow: one window's outputs, per input series (no by or without), by a label and without
// one; the last value is the newest sample's, whatever the order they came in.
func TestWindow(t *testing.T) {
	type sample struct {
		series string
		ts     int64
		value  float64
	}
	f := func(by, without []string, outputs []string, in []sample, want string) {
		t.Helper()
		s, err := NewSpec("1m", by, without, outputs)
		if err != nil {
			t.Fatal(err)
		}
		w := NewWindow(s)
		for _, x := range in {
			w.Add(series(x.series), x.ts, x.value)
		}
		if got := flushed(w); got != strings.TrimSpace(want) {
			t.Fatalf("got\n%s\nwant\n%s", got, want)
		}
		if w.Series() != 0 {
			t.Fatal("Flush left series in the window")
		}
	}
	in := []sample{{`foo{abc="123"}`, 1000, 4}, {`bar`, 11000, 5}, {`bar`, 10000, 34}, {`foo{abc="123"}`, 2000, 8.5}, {`foo{abc="456",de="fg"}`, 3000, 8}}
	f(nil, nil, []string{CountSamples, SumSamples, CountSeries, Last}, in, `
bar:1m_count_samples 2
bar:1m_count_series 1
bar:1m_last 5
bar:1m_sum_samples 39
foo:1m_count_samples{abc="123"} 2
foo:1m_count_samples{abc="456",de="fg"} 1
foo:1m_count_series{abc="123"} 1
foo:1m_count_series{abc="456",de="fg"} 1
foo:1m_last{abc="123"} 8.5
foo:1m_last{abc="456",de="fg"} 8
foo:1m_sum_samples{abc="123"} 12.5
foo:1m_sum_samples{abc="456",de="fg"} 8`)
	f([]string{"abc"}, nil, []string{CountSeries, Min, Max, Avg}, in, `
bar:1m_by_abc_avg 19.5
bar:1m_by_abc_count_series 1
bar:1m_by_abc_max 34
bar:1m_by_abc_min 5
foo:1m_by_abc_avg{abc="123"} 6.25
foo:1m_by_abc_avg{abc="456"} 8
foo:1m_by_abc_count_series{abc="123"} 1
foo:1m_by_abc_count_series{abc="456"} 1
foo:1m_by_abc_max{abc="123"} 8.5
foo:1m_by_abc_max{abc="456"} 8
foo:1m_by_abc_min{abc="123"} 4
foo:1m_by_abc_min{abc="456"} 8`)
	f(nil, []string{"abc"}, []string{SumSamples, CountSeries}, in, `
bar:1m_without_abc_count_series 1
bar:1m_without_abc_sum_samples 39
foo:1m_without_abc_count_series 1
foo:1m_without_abc_count_series{de="fg"} 1
foo:1m_without_abc_sum_samples 12.5
foo:1m_without_abc_sum_samples{de="fg"} 8`)
	// A sample redelivered (same series, same timestamp) is taken once, by every output; a
	// distinct sample out of order still counts.
	f(nil, nil, []string{SumSamples, CountSamples, Avg, Min, Max, Last, CountSeries},
		[]sample{{`m{a="1"}`, 2000, 10}, {`m{a="1"}`, 1000, 1}, {`m{a="1"}`, 2000, 10}, {`m{a="1"}`, 1000, 1}}, `
m:1m_avg{a="1"} 5.5
m:1m_count_samples{a="1"} 2
m:1m_count_series{a="1"} 1
m:1m_last{a="1"} 10
m:1m_max{a="1"} 10
m:1m_min{a="1"} 1
m:1m_sum_samples{a="1"} 11`)
}
