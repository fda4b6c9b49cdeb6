package status

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the document as sluice status prints it: the same sections as the page, the
// worst partitions first (at most maxPartitions of them) and the newest events (at most
// maxEvents).
func WriteText(w io.Writer, d Doc, maxPartitions, maxEvents int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	flush := func() { _ = tw.Flush() }

	fmt.Fprintf(w, "sluice %s  up %s  health: %s  ready: %s\n\n", d.Version, time.Duration(d.UptimeSeconds*float64(time.Second)).Round(time.Second), d.Health, d.Ready)

	f := d.Flow
	fmt.Fprintf(w, "FLOW  in %s/s  out %s/s  dropped %s/s  latency p99 %s  (since start: in %d, out %d, records %d)\n",
		si(f.InPerSecond), si(f.OutPerSecond), si(f.DroppedPerSecond), dur(f.LatencyP99), f.DatapointsIn, f.DatapointsOut, f.RecordsIn)
	if len(f.History) > 1 {
		fmt.Fprintf(w, "  in, last %s: %s\n", time.Duration(len(f.History))*SampleInterval, sparkline(f.History))
	}
	for _, r := range sortedByValue(f.Dropped) {
		fmt.Fprintf(w, "  dropped %s: %d\n", r, f.Dropped[r])
	}

	fmt.Fprintf(w, "\nPARTITIONS (%d, worst first)\n", len(d.Partitions))
	p("topic/partition\treader\tworkers\tlag\tlag s\trecords/s\tcommit age\t\n")
	for i, pt := range d.Partitions {
		if i == maxPartitions {
			p("… %d more\t\t\t\t\t\t\t\n", len(d.Partitions)-i)
			break
		}
		ws := strings.Trim(strings.ReplaceAll(fmt.Sprint(pt.Workers), " ", ","), "[]")
		if pt.Hot {
			ws += " hot"
		}
		p("%s/%d\t%d\t%s\t%d\t%s\t%s\t%s\t\n", pt.Topic, pt.Partition, pt.Reader, ws, pt.Lag, dur(pt.LagSeconds), si(pt.RecordsPerSecond), dur(pt.CommitAgeSeconds))
	}
	flush()

	fmt.Fprintf(w, "\nWORKERS\n")
	p("worker\tbusy\tmailbox\t\n")
	for _, wk := range d.Workers {
		p("%d\t%.0f%%\t%d\t\n", wk.ID, 100*wk.Busy, wk.Mailbox)
	}
	flush()
	for _, pl := range d.Pools {
		fmt.Fprintf(w, "  pool %s: %d of %d in use\n", pl.Name, pl.InUse, pl.Size)
	}

	fmt.Fprintf(w, "\nOUTPUTS\n")
	p("output\tdatapoints/s\ttotal\twrite mean\twrite p99\tretryable\tpermanent\t\n")
	for _, o := range d.Outputs {
		p("%s\t%s\t%d\t%s\t%s\t%d\t%d\t\n", o.Name, si(o.PerSecond), o.Datapoints, dur(o.WriteMeanSeconds), dur(o.WriteP99Seconds), o.Errors["retryable"], o.Errors["permanent"])
	}
	flush()
	for _, o := range d.Outputs {
		for _, e := range o.Endpoints {
			fmt.Fprintf(w, "  %s → %s: breaker %s, %d ok, %d failed, opened %d times\n", o.Name, e.URL, e.Breaker, e.OK, e.Failed, e.Opens)
		}
		if o.LastError != "" {
			fmt.Fprintf(w, "  %s last error (%s): %s\n", o.Name, o.LastErrorTime.Local().Format(time.TimeOnly), o.LastError)
		}
	}

	fmt.Fprintf(w, "\nLIMITS AND SHEDDING\n")
	for _, l := range d.Limits {
		v := l.Value
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(w, "  budget %s %s: %d series, %d of %d admitted, %d dropped\n", l.Name, v, l.Series, l.Admitted, l.Max, l.Dropped)
	}
	var kept []string
	for _, c := range slices.Sorted(maps.Keys(d.Shedding.Factors)) {
		kept = append(kept, fmt.Sprintf("%s %.0f%% kept (%d shed)", c, 100*d.Shedding.Factors[c], d.Shedding.Shed[c]))
	}
	fmt.Fprintf(w, "  shedding: %s\n", strings.Join(kept, ", "))
	c := d.Control
	fmt.Fprintf(w, "  control version %d, %d rejected, %d reloads\n", c.Version, c.Rejected, c.Reloads)
	if c.LastRejected != "" {
		fmt.Fprintf(w, "  last rejected: %s\n", c.LastRejected)
	}

	m := d.Memory
	fmt.Fprintf(w, "\nMEMORY  rss %s  heap %s  budget %s  soft limit %s  cpu %.2f cores  gc %.1f%% of cpu\n",
		mib(m.RSS), mib(m.HeapInUse), mib(m.BudgetSum), mib(m.SoftLimit), m.CPUCores, 100*m.GCCPUShare)
	var parts []string
	for _, k := range sortedByValue(m.Budget) {
		parts = append(parts, fmt.Sprintf("%s %s", k, mib(m.Budget[k])))
	}
	fmt.Fprintf(w, "  budget by part: %s\n", strings.Join(parts, ", "))

	fmt.Fprintf(w, "\nRECENT EVENTS (newest first)\n")
	for i, e := range d.Events {
		if i == maxEvents {
			break
		}
		var fs []string
		for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
			fs = append(fs, k+"="+e.Fields[k])
		}
		fmt.Fprintf(w, "  %s %-5s %s %s\n", e.Time.Local().Format(time.TimeOnly), e.Level, e.Message, strings.Join(fs, " "))
	}
	return nil
}

func sortedByValue[V cmp.Ordered](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b)) })
	return keys
}

// si is a rate with a k/M/G suffix.
func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func dur(s float64) string {
	if s < 0 {
		return ">max"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

func mib(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fMiB", float64(b)/(1<<20))
}

// sparkline draws the input rate of the history in block characters.
func sparkline(h []FlowSample) string {
	const bars = "▁▂▃▄▅▆▇█"
	r := []rune(bars)
	top := 0.0
	for _, s := range h {
		top = max(top, s.In)
	}
	var b strings.Builder
	for _, s := range h[max(0, len(h)-60):] {
		i := 0
		if top > 0 {
			i = int(s.In / top * float64(len(r)-1))
		}
		b.WriteRune(r[i])
	}
	return fmt.Sprintf("%s (max %s/s)", b.String(), si(top))
}
