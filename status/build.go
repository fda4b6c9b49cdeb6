package status

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Input is what Build reads: two gatherings of the process's registry (Prev, an interval
// before Cur, for rates; nil for none yet), the flow history and recent events.
type Input struct {
	Now, Start time.Time
	Version    string
	Health     error
	Ready      error
	Cur        []*dto.MetricFamily
	Prev       []*dto.MetricFamily
	PrevTime   time.Time
	History    []FlowSample
	Events     []Event
}

// Build makes the status document. It reads only metric families and events, so the document
// shows the numbers /metrics shows.
func Build(in Input) Doc {
	cur, prev := index(in.Cur), index(in.Prev)
	dt := in.Now.Sub(in.PrevTime).Seconds()
	if in.Prev == nil || dt <= 0 {
		dt = 0
	}
	r := &rater{cur: cur, prev: prev, dt: dt}
	doc := Doc{Schema: SchemaVersion, Time: in.Now.UTC(), UptimeSeconds: in.Now.Sub(in.Start).Seconds(), Version: in.Version,
		Health: okOr(in.Health), Ready: okOr(in.Ready)}
	doc.Flow = flow(r, in.History)
	doc.Partitions = partitions(r)
	doc.Workers = workers(r)
	doc.Pools = pools(cur)
	doc.Outputs = outputs(r, in.Events)
	doc.Limits = limitsOf(cur)
	doc.Shedding = shedding(cur)
	doc.Control = control(cur, in.Events)
	doc.Memory = memory(r)
	doc.Events = append([]Event{}, in.Events...)
	slices.Reverse(doc.Events) // newest first
	// Lists are [] in the JSON when empty, never null: scripts and the page iterate them.
	doc.Flow.History = nonNil(doc.Flow.History)
	doc.Partitions, doc.Workers, doc.Pools = nonNil(doc.Partitions), nonNil(doc.Workers), nonNil(doc.Pools)
	doc.Outputs, doc.Limits = nonNil(doc.Outputs), nonNil(doc.Limits)
	return doc
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func okOr(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

// families indexes gathered metric families by name.
type families map[string]*dto.MetricFamily

func index(mfs []*dto.MetricFamily) families {
	f := families{}
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	return f
}

// value is a counter's, gauge's or untyped metric's value.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// labelKey is a metric's labels as one string, to match a metric across two gatherings.
func labelKey(m *dto.Metric) string {
	var b strings.Builder
	for _, l := range m.GetLabel() {
		b.WriteString(l.GetName())
		b.WriteByte('=')
		b.WriteString(l.GetValue())
		b.WriteByte(',')
	}
	return b.String()
}

// metrics are a family's metrics (none when it is absent).
func (f families) metrics(name string) []*dto.Metric {
	if mf := f[name]; mf != nil {
		return mf.GetMetric()
	}
	return nil
}

// sum adds a family's values whose labels match want (all, with none).
func (f families) sum(name string, want ...string) float64 {
	var s float64
	for _, m := range f.metrics(name) {
		if matches(m, want) {
			s += value(m)
		}
	}
	return s
}

func matches(m *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		if label(m, want[i]) != want[i+1] {
			return false
		}
	}
	return true
}

// rater turns counters of two gatherings into per-second rates.
type rater struct {
	cur, prev families
	dt        float64 // seconds between them; 0: no rates yet
	// before caches the previous gathering's values by family and labels.
	before map[string]map[string]float64
}

// previous is the previous gathering's value of each metric of family name, by labels.
func (r *rater) previous(name string) map[string]float64 {
	if m, ok := r.before[name]; ok {
		return m
	}
	m := map[string]float64{}
	for _, mt := range r.prev.metrics(name) {
		m[labelKey(mt)] = value(mt)
	}
	if r.before == nil {
		r.before = map[string]map[string]float64{}
	}
	r.before[name] = m
	return m
}

// rate is the per-second increase of the counters of name matching want (a counter that went
// back, as a partition's count does when it is claimed again, counts from 0, as does a new one).
func (r *rater) rate(name string, want ...string) float64 {
	if r.dt == 0 {
		return 0
	}
	before := r.previous(name)
	var inc float64
	for _, m := range r.cur.metrics(name) {
		if !matches(m, want) {
			continue
		}
		v := value(m)
		// A series new since the last gathering (a partition claimed, a first drop) started
		// from 0 within the interval.
		if b, ok := before[labelKey(m)]; ok && b <= v {
			v -= b
		}
		inc += v
	}
	return inc / r.dt
}

// rateEach is the per-second increase of each metric of name, keyed by key(metric).
func (r *rater) rateEach(name string, key func(*dto.Metric) string) map[string]float64 {
	out := map[string]float64{}
	if r.dt == 0 {
		return out
	}
	before := r.previous(name)
	for _, m := range r.cur.metrics(name) {
		v := value(m)
		if b, ok := before[labelKey(m)]; ok && b <= v {
			v -= b
		}
		out[key(m)] += v / r.dt
	}
	return out
}

// histDelta is a histogram's count and sum increase between the gatherings.
func (r *rater) histDelta(name string, want ...string) (count, sum float64) {
	find := func(f families) (float64, float64) {
		for _, m := range f.metrics(name) {
			if matches(m, want) && m.Histogram != nil {
				return float64(m.Histogram.GetSampleCount()), m.Histogram.GetSampleSum()
			}
		}
		return 0, 0
	}
	c1, s1 := find(r.cur)
	c0, s0 := find(r.prev)
	return c1 - c0, s1 - s0
}

// quantile is the upper bound of the histogram bucket the q-quantile falls in (0 when empty).
func quantile(f families, q float64, name string, want ...string) float64 {
	for _, m := range f.metrics(name) {
		h := m.Histogram
		if !matches(m, want) || h == nil || h.GetSampleCount() == 0 {
			continue
		}
		rank := q * float64(h.GetSampleCount())
		for _, b := range h.GetBucket() {
			if float64(b.GetCumulativeCount()) >= rank {
				return b.GetUpperBound()
			}
		}
		return math.Inf(1)
	}
	return 0
}

func flow(r *rater, history []FlowSample) Flow {
	f := Flow{
		DatapointsIn:     int64(r.cur.sum("sluice_input_datapoints_total")),
		DatapointsOut:    int64(r.cur.sum("sluice_output_datapoints_total")),
		RecordsIn:        int64(r.cur.sum("sluice_input_records_total")),
		InPerSecond:      r.rate("sluice_input_datapoints_total"),
		OutPerSecond:     r.rate("sluice_output_datapoints_total"),
		DroppedPerSecond: r.rate("sluice_dropped_total"),
		Dropped:          map[string]int64{},
		LatencyP99:       finite(quantile(r.cur, 0.99, "sluice_end_to_end_latency_seconds")),
		History:          slices.Clone(history),
	}
	for _, m := range r.cur.metrics("sluice_dropped_total") {
		if v := int64(value(m)); v > 0 {
			f.Dropped[label(m, "reason")] += v
		}
	}
	return f
}

func finite(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return -1
	}
	return v
}

type partKey struct {
	topic string
	part  int32
}

func partOf(m *dto.Metric) partKey {
	p, _ := strconv.Atoi(label(m, "partition"))
	return partKey{label(m, "topic"), int32(p)}
}

// partitions are the claimed partitions, the worst first: furthest behind in seconds, then in
// records.
func partitions(r *rater) []Partition {
	byKey := map[partKey]*Partition{}
	get := func(m *dto.Metric) *Partition {
		k := partOf(m)
		p := byKey[k]
		if p == nil {
			p = &Partition{Topic: k.topic, Partition: k.part, Reader: -1}
			byKey[k] = p
		}
		return p
	}
	for _, m := range r.cur.metrics("sluice_partition_owned") {
		get(m).Reader, _ = strconv.Atoi(label(m, "reader"))
	}
	for _, m := range r.cur.metrics("sluice_consumer_lag") {
		if p := byKey[partOf(m)]; p != nil {
			p.Lag = int64(value(m))
		}
	}
	for _, m := range r.cur.metrics("sluice_partition_freshness_seconds") {
		if p := byKey[partOf(m)]; p != nil {
			p.LagSeconds = value(m)
		}
	}
	for _, m := range r.cur.metrics("sluice_partition_commit_age_seconds") {
		if p := byKey[partOf(m)]; p != nil {
			p.CommitAgeSeconds = value(m)
		}
	}
	for _, m := range r.cur.metrics("sluice_partition_load_bytes_per_second") {
		if p := byKey[partOf(m)]; p != nil {
			p.LoadBytesPerSec = value(m)
		}
	}
	for _, m := range r.cur.metrics("sluice_partition_worker") {
		if p := byKey[partOf(m)]; p != nil {
			w, _ := strconv.Atoi(label(m, "worker"))
			p.Workers = append(p.Workers, w)
		}
	}
	rates := r.rateEach("sluice_partition_records_total", func(m *dto.Metric) string { return label(m, "topic") + "\x00" + label(m, "partition") })
	out := make([]Partition, 0, len(byKey))
	for k, p := range byKey {
		slices.Sort(p.Workers)
		p.Hot = len(p.Workers) > 1
		p.RecordsPerSecond = rates[k.topic+"\x00"+strconv.Itoa(int(k.part))]
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Partition) int {
		return cmp.Or(cmp.Compare(b.LagSeconds, a.LagSeconds), cmp.Compare(b.Lag, a.Lag),
			strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

func workers(r *rater) []Worker {
	var out []Worker
	busy := r.rateEach("sluice_worker_busy_seconds_total", func(m *dto.Metric) string { return label(m, "worker") })
	for _, m := range r.cur.metrics("sluice_worker_mailbox_depth") {
		id, _ := strconv.Atoi(label(m, "worker"))
		out = append(out, Worker{ID: id, Mailbox: int64(value(m)), Busy: min(1, busy[label(m, "worker")])})
	}
	slices.SortFunc(out, func(a, b Worker) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func pools(f families) []Pool {
	var out []Pool
	for _, m := range f.metrics("sluice_batch_pool_size") {
		name := label(m, "pool")
		out = append(out, Pool{Name: name, Size: int64(value(m)), InUse: int64(f.sum("sluice_batch_pool_in_use", "pool", name))})
	}
	slices.SortFunc(out, func(a, b Pool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// breakerStates are sluice_output_endpoint_state's values.
var breakerStates = []string{"closed", "open", "half_open"}

func outputs(r *rater, events []Event) []Output {
	var out []Output
	for _, m := range r.cur.metrics("sluice_output_datapoints_total") {
		name := label(m, "output")
		o := Output{Name: name, Datapoints: int64(value(m)), PerSecond: r.rate("sluice_output_datapoints_total", "output", name),
			Errors: map[string]int64{}, Rejected: int64(r.cur.sum("sluice_output_rejected_datapoints_total", "output", name)),
			WriteP99Seconds: finite(quantile(r.cur, 0.99, "sluice_output_write_duration_seconds", "output", name))}
		for _, e := range r.cur.metrics("sluice_output_errors_total") {
			if label(e, "output") == name {
				o.Errors[label(e, "kind")] = int64(value(e))
			}
		}
		if n, s := r.histDelta("sluice_output_write_duration_seconds", "output", name); n > 0 {
			o.WriteMeanSeconds = s / n
		}
		for _, e := range r.cur.metrics("sluice_output_endpoint_state") {
			if label(e, "output") != name {
				continue
			}
			u := label(e, "endpoint")
			state := "unknown"
			if s := int(value(e)); s >= 0 && s < len(breakerStates) {
				state = breakerStates[s]
			}
			o.Endpoints = append(o.Endpoints, Endpoint{URL: u, Breaker: state,
				OK:     int64(r.cur.sum("sluice_output_endpoint_requests_total", "output", name, "endpoint", u, "result", "ok")),
				Failed: int64(r.cur.sum("sluice_output_endpoint_requests_total", "output", name, "endpoint", u, "result", "error")),
				Opens:  int64(r.cur.sum("sluice_output_endpoint_breaker_opens_total", "output", name, "endpoint", u))})
		}
		slices.SortFunc(o.Endpoints, func(a, b Endpoint) int { return strings.Compare(a.URL, b.URL) })
		for i := len(events) - 1; i >= 0; i-- {
			if e := events[i]; e.Fields["output"] == name && (e.Level == "warn" || e.Level == "error") {
				o.LastError = e.Message
				if err := e.Fields["error"]; err != "" {
					o.LastError += ": " + err
				}
				t := e.Time
				o.LastErrorTime = &t
				break
			}
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Output) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func limitsOf(f families) []Limit {
	var out []Limit
	for _, m := range f.metrics("sluice_limit_series") {
		name, v := label(m, "limit"), label(m, "value")
		out = append(out, Limit{Name: name, Value: v, Series: int64(value(m)),
			Admitted: int64(f.sum("sluice_limit_admitted_series", "limit", name, "value", v)),
			Max:      int64(f.sum("sluice_limit_max_series", "limit", name, "value", v)),
			Dropped:  int64(f.sum("sluice_limit_dropped_total", "limit", name))})
	}
	slices.SortFunc(out, func(a, b Limit) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Value, b.Value))
	})
	return out
}

func shedding(f families) Shedding {
	s := Shedding{Factors: map[string]float64{}, Shed: map[string]int64{}}
	for _, m := range f.metrics("sluice_shed_factor") {
		s.Factors[label(m, "class")] = value(m)
	}
	for _, m := range f.metrics("sluice_shed_total") {
		s.Shed[label(m, "class")] += int64(value(m))
	}
	return s
}

func control(f families, events []Event) Control {
	c := Control{Version: int64(f.sum("sluice_control_version")), Rejected: int64(f.sum("sluice_control_rejected_total")),
		Reloads: int64(f.sum("sluice_config_reloads_total", "result", "ok"))}
	for i := len(events) - 1; i >= 0; i-- {
		if e := events[i]; strings.HasPrefix(e.Message, "control document rejected") {
			c.LastRejected = e.Message
			for _, k := range []string{"version", "diagnostics", "error"} {
				if v := e.Fields[k]; v != "" {
					c.LastRejected += "; " + k + ": " + v
				}
			}
			t := e.Time
			c.RejectedTime = &t
			break
		}
	}
	return c
}

func memory(r *rater) Memory {
	m := Memory{Budget: map[string]int64{}, RSS: int64(r.cur.sum("process_resident_memory_bytes")),
		SoftLimit: int64(r.cur.sum("sluice_memory_limit_bytes")), HeapInUse: int64(r.cur.sum("go_memstats_heap_inuse_bytes"))}
	for _, b := range r.cur.metrics("sluice_memory_budget_bytes") {
		m.Budget[label(b, "part")] = int64(value(b))
		m.BudgetSum += int64(value(b))
	}
	if cpu := r.rate("process_cpu_seconds_total"); cpu > 0 {
		m.CPUCores = cpu
		m.GCCPUShare = min(1, r.rate("go_cpu_classes_gc_total_cpu_seconds_total")/cpu)
	}
	return m
}
