// remotewrite_test.go is longer than ~400 lines: it holds the remote-write output's tests against
// real receivers (VictoriaMetrics and Prometheus), which share the receivers' start-up and the
// helpers that read back and compare every series.

package integration

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
)

const rwIn = "rw.in"

// rwConfig is a pipeline reading OpenTSDB from rwIn on c, with the given output and route
// blocks.
func rwConfig(t *testing.T, c *kafkatest.Cluster, outputs string) *config.Config {
	t.Helper()
	return rwConfigInput(t, c, "opentsdb", outputs)
}

// rwConfigInput is rwConfig with an input of another format.
func rwConfigInput(t *testing.T, c *kafkatest.Cluster, format, outputs string) *config.Config {
	t.Helper()
	return rwConfigWith(t, c, format, "", outputs)
}

// rwConfigWith is rwConfigInput with more settings (inputExtra) in the input block.
func rwConfigWith(t *testing.T, c *kafkatest.Cluster, format, inputExtra, outputs string) *config.Config {
	t.Helper()
	src := fmt.Sprintf(`
log { level = "warn" }
kafka {
  brokers = [%q]
}
input %q {
  topics = [%q]
  group  = "sluice-rw"
%s
}
pipeline {
  readers = 2
  workers = 2
  writers = 2
  batch_bytes = "64KiB"
  shard_batch_bytes = "64KiB"
  batch_linger = "10ms"
}
%s
`, c.Addrs[0], format, rwIn, inputExtra, outputs)
	cfg, err := config.Load("rw.hcl", []byte(src))
	if err != nil {
		var b strings.Builder
		if ce, ok := err.(*config.Error); ok {
			ce.Write(&b)
		}
		t.Fatalf("config: %v\n%s", err, b.String())
	}
	return cfg
}

// rwData makes n OpenTSDB lines over `series` series (metric name(s), tags host and dc), each
// series' samples one second apart, the newest a minute or two ago, value = line number; and what
// a receiver must hold for them.
func rwData(n, series int, name func(s int) string) ([]string, exported) {
	return rwDataAt(time.Now().Add(-3*time.Minute), n, series, name)
}

// rwDataAt is rwData with the first samples at start.
func rwDataAt(start time.Time, n, series int, name func(s int) string) ([]string, exported) {
	base := start.Truncate(time.Second).UnixMilli()
	lines := make([]string, n)
	want := exported{}
	for i := 0; i < n; i++ {
		s := i % series
		ts := base + int64(i/series)*1000
		metric, host := name(s), fmt.Sprintf("h%d", s)
		lines[i] = fmt.Sprintf("put %s %d %d host=%s dc=us-east-1", metric, ts, i, host)
		k := seriesKey(map[string]string{"__name__": metric, "host": host, "dc": "us-east-1"})
		if want[k] == nil {
			want[k] = map[int64]float64{}
		}
		want[k][ts] = float64(i)
	}
	return lines, want
}

// union merges exports (replicas that each hold part of the data).
func union(es ...exported) exported {
	out := exported{}
	for _, e := range es {
		for k, s := range e {
			if out[k] == nil {
				out[k] = map[int64]float64{}
			}
			for ts, v := range s {
				out[k][ts] = v
			}
		}
	}
	return out
}

// sameData fails unless got holds exactly want's series and samples.
func sameData(t *testing.T, what string, got, want exported) {
	t.Helper()
	missing, wrong, extra := 0, 0, 0
	var example string
	for k, ws := range want {
		gs := got[k]
		for ts, v := range ws {
			g, ok := gs[ts]
			switch {
			case !ok:
				missing++
				if example == "" {
					example = fmt.Sprintf("missing %s @%d", k, ts)
				}
			case g != v:
				wrong++
				if example == "" {
					example = fmt.Sprintf("%s @%d = %g, want %g", k, ts, g, v)
				}
			}
		}
	}
	for k, gs := range got {
		for ts := range gs {
			if _, ok := want[k][ts]; !ok {
				extra++
				if example == "" {
					example = fmt.Sprintf("unexpected %s @%d", k, ts)
				}
			}
		}
	}
	if missing+wrong+extra > 0 || len(got) != len(want) {
		t.Fatalf("%s: %d series (want %d), %d samples (want %d): %d missing, %d wrong, %d unexpected; e.g. %s",
			what, len(got), len(want), got.samples(), want.samples(), missing, wrong, extra, example)
	}
}

// startRW starts a pipeline for cfg with its metrics on a registry of its own.
func startRW(t *testing.T, cfg *config.Config) (*actors.Pipeline, *prometheus.Registry) {
	t.Helper()
	p, reg, _ := startRecorded(t, cfg)
	return p, reg
}

// waitOut waits until the outputs acknowledged n datapoints.
func waitOut(t *testing.T, p *actors.Pipeline, n int64) {
	t.Helper()
	kafkatest.WaitFor(t, 2*time.Minute, fmt.Sprintf("%d datapoints acknowledged", n), func() bool { return p.Stats().DatapointsOut >= n })
}

// stopClean stops p and fails unless it drained with nothing left out of its pools.
func stopClean(t *testing.T, p *actors.Pipeline) actors.Summary {
	t.Helper()
	s := stop(t, p)
	if !s.Drained || s.RawInUse != 0 || s.ShardInUse != 0 {
		t.Fatalf("pipeline did not stop cleanly: %+v", s)
	}
	return s
}

// metric returns the value of the sample of family name whose labels include want (0 if none).
func metric(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue next
				}
			}
			return value(m)
		}
	}
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// TestRemoteWriteVictoriaMetrics: 100k datapoints over 1k series, produced so that each series'
// samples reach the writers out of order across batches, arrive in VictoriaMetrics exactly: every
// series with its labels, every sample with its value and timestamp.
func TestRemoteWriteVictoriaMetrics(t *testing.T) {
	vm := startVictoriaMetrics(t, "vm")
	c := kafkatest.Start(t, rwIn, 6, "rw.unused", 1)
	lines, want := rwData(100_000, 1000, func(s int) string { return fmt.Sprintf("rw.m%d", s%10) })
	c.Produce(t, rwIn, lines, 100)
	p, reg := startRW(t, rwConfig(t, c, fmt.Sprintf(`output "remote_write" "vm" {
  urls = [%q]
  concurrency = 4
  linger = "20ms"
  max_batch_samples = 5000
}`, vm.writeURL())))
	waitOut(t, p, 100_000)
	s := stopClean(t, p)
	if s.DatapointsIn != 100_000 || s.DatapointsOut != 100_000 || s.Dropped.Total() != 0 {
		t.Fatalf("in %d, out %d, dropped %v", s.DatapointsIn, s.DatapointsOut, s.Dropped)
	}
	sameData(t, "VictoriaMetrics", vm.exportVM(t, `{__name__=~"rw\\..*"}`), want)
	reqs := metric(t, reg, "sluice_output_records_total", map[string]string{"output": "vm"})
	if reqs < 100_000/5000 {
		t.Fatalf("%g requests for 100k samples with max_batch_samples 5000", reqs)
	}
	if e := metric(t, reg, "sluice_output_errors_total", map[string]string{"output": "vm", "kind": "retryable"}); e != 0 {
		t.Fatalf("%g failed requests against a healthy receiver", e)
	}
	t.Logf("%g requests, %g datapoints acknowledged", reqs, metric(t, reg, "sluice_output_datapoints_total", map[string]string{"output": "vm"}))
}

// TestRemoteWrite2Prometheus3: protocol = "2.0" into a real Prometheus 3 receiver; every sample
// is read back by query and compared, and the receiver's Samples-Written headers confirm every
// sample, none as a partial write.
func TestRemoteWrite2Prometheus3(t *testing.T) {
	prom := startPrometheus3(t)
	c := kafkatest.Start(t, rwIn, 6, "rw.unused", 1)
	lines, want := rwData(50_000, 500, func(s int) string { return fmt.Sprintf("rw.m%d", s%10) })
	c.Produce(t, rwIn, lines, 100)
	p, reg := startRW(t, rwConfig(t, c, fmt.Sprintf(`output "remote_write" "prom3" {
  urls     = [%q]
  protocol = "2.0"
  linger   = "20ms"
}`, prom.writeURL())))
	waitOut(t, p, 50_000)
	stopClean(t, p)
	if e := metric(t, reg, "sluice_output_errors_total", map[string]string{"output": "prom3", "kind": "permanent"}); e != 0 {
		t.Fatalf("Prometheus 3 refused %g requests; its log:\n%s", e, prom.logTail())
	}
	if n := metric(t, reg, "sluice_output_partial_writes_total", map[string]string{"output": "prom3"}); n != 0 {
		t.Fatalf("%g partial writes", n)
	}
	if n := metric(t, reg, "sluice_output_confirmed_samples_total", map[string]string{"output": "prom3"}); n != 50_000 {
		t.Fatalf("the receiver confirmed %g samples written, want 50000", n)
	}
	got := exported{}
	for _, r := range prom.promQuery(t, `{__name__=~"rw\\..+"}[10m]`) {
		k := seriesKey(r.Metric)
		got[k] = map[int64]float64{}
		for _, v := range r.Values {
			var f float64
			fmt.Sscan(v[1].(string), &f)
			got[k][int64(math.Round(v[0].(float64)*1000))] = f
		}
	}
	sameData(t, "samples Prometheus 3 holds after remote write 2.0", got, want)
}

// TestRemoteWritePrometheus: the same into Prometheus' remote-write receiver, checked with
// PromQL; its out-of-order window accepts a series' samples that arrive after newer ones in an
// earlier request, but within one request they must be in order, or it rejects the request.
func TestRemoteWritePrometheus(t *testing.T) {
	prom := startPrometheus(t)
	c := kafkatest.Start(t, rwIn, 6, "rw.unused", 1)
	lines, want := rwData(100_000, 1000, func(s int) string { return fmt.Sprintf("rw.m%d", s%10) })
	c.Produce(t, rwIn, lines, 100)
	p, reg := startRW(t, rwConfig(t, c, fmt.Sprintf(`output "remote_write" "prom" {
  urls = [%q]
  linger = "20ms"
}`, prom.writeURL())))
	waitOut(t, p, 100_000)
	stopClean(t, p)
	if e := metric(t, reg, "sluice_output_errors_total", map[string]string{"output": "prom", "kind": "permanent"}); e != 0 {
		t.Fatalf("Prometheus refused %g requests; its log:\n%s", e, prom.logTail())
	}
	count := func(q string) float64 {
		t.Helper()
		r := prom.promQuery(t, q)
		if len(r) != 1 {
			t.Fatalf("%s: %d results", q, len(r))
		}
		var v float64
		fmt.Sscan(r[0].Value[1].(string), &v)
		return v
	}
	if n := count(`count({__name__=~"rw\\..+"})`); n != 1000 {
		t.Fatalf("count() = %g series, want 1000", n)
	}
	if n := count(`sum(count_over_time({__name__=~"rw\\..+"}[10m]))`); n != 100_000 {
		t.Fatalf("%g samples, want 100000", n)
	}
	for _, s := range []int{0, 137, 999} {
		metric, host := fmt.Sprintf("rw.m%d", s%10), fmt.Sprintf("h%d", s)
		r := prom.promQuery(t, fmt.Sprintf(`{__name__=%q,host=%q}[10m]`, metric, host))
		if len(r) != 1 || r[0].Metric["dc"] != "us-east-1" {
			t.Fatalf("series %s %s: %+v", metric, host, r)
		}
		got := map[int64]float64{}
		for _, v := range r[0].Values {
			var f float64
			fmt.Sscan(v[1].(string), &f)
			got[int64(math.Round(v[0].(float64)*1000))] = f
		}
		k := seriesKey(map[string]string{"__name__": metric, "host": host, "dc": "us-east-1"})
		sameData(t, "Prometheus series "+k, exported{k: got}, exported{k: want[k]})
	}
}

// TestRemoteWriteReplicaDies: two VictoriaMetrics replicas behind one output; one goes away
// halfway. Requests move to the other, its breaker opens, and every datapoint is held by one of
// them.
func TestRemoteWriteReplicaDies(t *testing.T) {
	a, b := startVictoriaMetrics(t, "vm-a"), startVictoriaMetrics(t, "vm-b")
	c := kafkatest.Start(t, rwIn, 6, "rw.unused", 1)
	lines, want := rwData(100_000, 1000, func(s int) string { return fmt.Sprintf("rw.m%d", s%10) })
	p, reg := startRW(t, rwConfig(t, c, fmt.Sprintf(`output "remote_write" "vm" {
  urls = [%q, %q]
  concurrency = 4
  linger = "20ms"
  max_batch_samples = 2000
  timeout = "2s"
  breaker {
    failures  = 2
    cool_down = "1s"
  }
}`, a.writeURL(), b.writeURL())))
	aURL := map[string]string{"output": "vm", "endpoint": a.writeURL()}
	c.Produce(t, rwIn, lines[:50_000], 100)
	waitOut(t, p, 50_000)
	if ok := metric(t, reg, "sluice_output_endpoint_requests_total", map[string]string{"endpoint": a.writeURL(), "result": "ok"}); ok == 0 {
		t.Fatal("requests did not rotate: replica a got none")
	}
	a.stop(t)
	c.Produce(t, rwIn, lines[50_000:], 100)
	waitOut(t, p, 100_000)
	s := stopClean(t, p)
	if s.DatapointsOut != 100_000 || s.Dropped.Total() != 0 {
		t.Fatalf("out %d, dropped %v", s.DatapointsOut, s.Dropped)
	}
	if opens := metric(t, reg, "sluice_output_endpoint_breaker_opens_total", aURL); opens < 1 {
		t.Fatal("the dead replica's breaker never opened")
	}
	if st := metric(t, reg, "sluice_output_endpoint_state", map[string]string{"endpoint": b.writeURL()}); st != 0 {
		t.Fatalf("the live replica's breaker is %g, want closed (0)", st)
	}
	errs := metric(t, reg, "sluice_output_endpoint_requests_total", map[string]string{"endpoint": a.writeURL(), "result": "error"})
	okB := metric(t, reg, "sluice_output_endpoint_requests_total", map[string]string{"endpoint": b.writeURL(), "result": "ok"})
	t.Logf("dead replica: %g failed requests (breaker opened %g times); live replica: %g requests",
		errs, metric(t, reg, "sluice_output_endpoint_breaker_opens_total", aURL), okB)
	// The replica that went away flushed what it acknowledged; read it back.
	a.start(t, "/health")
	sameData(t, "the two replicas together", union(a.exportVM(t, `{__name__=~"rw\\..*"}`), b.exportVM(t, `{__name__=~"rw\\..*"}`)), want)
}

// TestRoutesToTwoReceivers: three routes over two outputs, one of them writing to both; each
// receiver holds exactly the datapoints routed to it, and a datapoint matching no route is
// counted as unrouted.
func TestRoutesToTwoReceivers(t *testing.T) {
	ads, main := startVictoriaMetrics(t, "vm-ads"), startVictoriaMetrics(t, "vm-main")
	c := kafkatest.Start(t, rwIn, 4, "rw.unused", 1)
	names := []string{"ads.clicks", "both.latency", "other.cpu", "debug.x"}
	lines, all := rwData(40_000, 400, func(s int) string { return names[s%4] })
	p, reg := startRW(t, rwConfig(t, c, fmt.Sprintf(`output "remote_write" "ads" {
  urls = [%q]
  linger = "20ms"
}
output "remote_write" "main" {
  urls = [%q]
  linger = "20ms"
}
route {
  match   = ["ads.**"]
  outputs = ["ads"]
}
route {
  match   = ["both.*"]
  outputs = ["ads", "main"]
}
route {
  match   = ["other.**"]
  outputs = ["main"]
}`, ads.writeURL(), main.writeURL())))
	c.Produce(t, rwIn, lines, 100)
	// 10k each of ads, both (twice), other; debug is unrouted.
	waitOut(t, p, 40_000)
	s := stopClean(t, p)
	if s.DatapointsOut != 40_000 || s.Dropped[messages.ReasonUnrouted] != 10_000 {
		t.Fatalf("out %d (want 40000), unrouted %d (want 10000)", s.DatapointsOut, s.Dropped[messages.ReasonUnrouted])
	}
	pick := func(prefixes ...string) exported {
		out := exported{}
		for k, v := range all {
			for _, p := range prefixes {
				if strings.HasPrefix(k, "__name__="+p) {
					out[k] = v
				}
			}
		}
		return out
	}
	sameData(t, "ads receiver", ads.exportVM(t, `{__name__=~".+"}`), pick("ads.", "both."))
	sameData(t, "main receiver", main.exportVM(t, `{__name__=~".+"}`), pick("both.", "other."))
	for out, n := range map[string]float64{"ads": 20_000, "main": 20_000} {
		if got := metric(t, reg, "sluice_output_datapoints_total", map[string]string{"output": out}); got != n {
			t.Errorf("output %s acknowledged %g datapoints, want %g", out, got, n)
		}
	}
}

// TestRemoteWriteRejectedToDeadLetter: Prometheus refuses a second, different value for a
// series' newest timestamp with 400 Bad Request, a permanent error: the request goes to the
// dead-letter topic at once, with the response's first line as the reason. It answers samples
// hours older than its head with 500 ("too old sample"), which is retried until retry.max_elapsed
// and then dead-lettered too. Either way the input commits to its end.
func TestRemoteWriteRejectedToDeadLetter(t *testing.T) {
	prom := startPrometheus(t)
	c := kafkatest.Start(t, rwIn, 2, "sluice.dead", 1)
	current, _ := rwData(50, 50, func(s int) string { return "dup.m" })
	dups := make([]string, len(current))
	for i, l := range current { // the same series and timestamps, other values
		dups[i] = strings.Replace(l, fmt.Sprintf(" %d host=", i), fmt.Sprintf(" %d host=", i+1000), 1)
	}
	_, wantDups := rwDataAt(time.Now().Add(-3*time.Minute), 50, 50, func(s int) string { return "dup.m" })
	for _, series := range wantDups {
		for ts, v := range series {
			series[ts] = v + 1000
		}
	}
	old, wantOld := rwDataAt(time.Now().Add(-5*time.Hour), 5_000, 50, func(s int) string { return fmt.Sprintf("old.m%d", s%5) })
	c.Produce(t, rwIn, current, 100)
	p, reg := startRW(t, rwConfig(t, c, fmt.Sprintf(`output "remote_write" "prom" {
  urls = [%q]
  linger = "20ms"
  retry { max_elapsed = "3s" }
  breaker { cool_down = "200ms" }
}
dead_letter { topic = "sluice.dead" }`, prom.writeURL())))
	waitOut(t, p, 50)
	// The counts below hold when each batch is written once: a group rebalance while the 500s are
	// retried would hand unacknowledged batches to the next session (at-least-once) and reject them
	// twice. kfake, unlike Kafka (group.initial.rebalance.delay.ms), completes the first join of an
	// empty group at once, so the second reader's join may rebalance the group seconds later; wait
	// until both readers are in a session.
	kafkatest.WaitFor(t, time.Minute, "both readers in a group session", func() bool { return p.Ready() == nil })
	rejected := func() int64 { return p.Stats().Dropped[messages.ReasonOutputRejected] }
	c.Produce(t, rwIn, dups, 100)
	kafkatest.WaitFor(t, time.Minute, "the duplicates dead-lettered", func() bool { return rejected() == 50 })
	if e := metric(t, reg, "sluice_output_errors_total", map[string]string{"output": "prom", "kind": "retryable"}); e != 0 {
		t.Fatalf("%g retries of a 400", e)
	}
	c.Produce(t, rwIn, old, 100)
	kafkatest.WaitFor(t, time.Minute, "the input committed to its end", func() bool {
		return len(c.Uncommitted(t, "sluice-rw", rwIn)) == 0
	})
	s := stopClean(t, p)
	if s.DatapointsOut != 50 || rejected() != 5_050 {
		t.Fatalf("out %d, output_rejected %d; want 50 and 5050", s.DatapointsOut, rejected())
	}
	if e := metric(t, reg, "sluice_output_errors_total", map[string]string{"output": "prom", "kind": "retryable"}); e == 0 {
		t.Fatal("the 500s were not retried")
	}
	got := map[string]exported{"400": {}, "max_elapsed": {}}
	for _, m := range c.ReadRecords(t, "sluice.dead") {
		h := map[string]string{}
		for _, rh := range m.Headers {
			h[string(rh.Key)] = string(rh.Value)
		}
		kind, detail := "", h[actors.HeaderDetail]
		switch {
		case strings.HasPrefix(detail, "400 Bad Request duplicate sample for timestamp"):
			kind = "400"
		case strings.HasPrefix(detail, "still failing after retrying for 3s (retry.max_elapsed): ") && strings.HasSuffix(detail, "500 Internal Server Error: too old sample"):
			kind = "max_elapsed"
		}
		if kind == "" || h[actors.HeaderReason] != "output_rejected" || h[actors.HeaderSourceTopic] != "remote_write:prom" || strings.Contains(detail, "\n") {
			t.Fatalf("dead letter headers %v", h)
		}
		for _, ts := range decodeWriteRequest(t, m.Value).Timeseries {
			labels := map[string]string{}
			for _, l := range ts.Labels {
				labels[l.Name] = l.Value
			}
			k := seriesKey(labels)
			if got[kind][k] == nil {
				got[kind][k] = map[int64]float64{}
			}
			for _, smp := range ts.Samples {
				got[kind][k][smp.Timestamp] = smp.Value
			}
		}
	}
	sameData(t, "requests dead-lettered for a 400", got["400"], wantDups)
	sameData(t, "requests dead-lettered after max_elapsed", got["max_elapsed"], wantOld)
}
