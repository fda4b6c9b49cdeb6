package status

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakePipeline registers metrics named and labelled as the pipeline's, whose values the test
// sets.
type fakePipeline struct {
	reg                           *prometheus.Registry
	in, out, dropped, partRecords *prometheus.CounterVec
	busy, opens, requests         *prometheus.CounterVec
	lag, fresh, owned, route      *prometheus.GaugeVec
	state, mailbox, poolSize      *prometheus.GaugeVec
	write                         *prometheus.HistogramVec
}

func newFake(t *testing.T) *fakePipeline {
	f := &fakePipeline{reg: prometheus.NewRegistry()}
	cv := func(name string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: name}, labels)
		f.reg.MustRegister(c)
		return c
	}
	gv := func(name string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: name}, labels)
		f.reg.MustRegister(g)
		return g
	}
	f.in = cv("sluice_input_datapoints_total", "topic", "format")
	f.out = cv("sluice_output_datapoints_total", "output")
	f.dropped = cv("sluice_dropped_total", "format", "reason")
	f.partRecords = cv("sluice_partition_records_total", "topic", "partition")
	f.busy = cv("sluice_worker_busy_seconds_total", "worker")
	f.opens = cv("sluice_output_endpoint_breaker_opens_total", "output", "endpoint")
	f.requests = cv("sluice_output_endpoint_requests_total", "output", "endpoint", "result")
	f.lag = gv("sluice_consumer_lag", "topic", "partition")
	f.fresh = gv("sluice_partition_freshness_seconds", "topic", "partition")
	f.owned = gv("sluice_partition_owned", "topic", "partition", "reader")
	f.route = gv("sluice_partition_worker", "topic", "partition", "worker")
	f.state = gv("sluice_output_endpoint_state", "output", "endpoint")
	f.mailbox = gv("sluice_worker_mailbox_depth", "worker")
	f.poolSize = gv("sluice_batch_pool_size", "pool")
	f.write = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_output_write_duration_seconds", Help: "w",
		Buckets: []float64{.01, .1, 1}}, []string{"output"})
	f.reg.MustRegister(f.write)
	return f
}

func (f *fakePipeline) gather(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func TestBuild(t *testing.T) {
	f := newFake(t)
	for p, fresh := range []float64{0.5, 30, 2} {
		part := string(rune('0' + p))
		f.owned.WithLabelValues("in", part, "0").Set(1)
		f.lag.WithLabelValues("in", part).Set(float64(100 * p))
		f.fresh.WithLabelValues("in", part).Set(fresh)
		f.partRecords.WithLabelValues("in", part).Add(1000)
		f.route.WithLabelValues("in", part, part).Set(1)
	}
	f.route.WithLabelValues("in", "1", "0").Set(1) // partition 1 spread over workers 0 and 1: hot
	f.busy.WithLabelValues("0").Add(5)
	f.mailbox.WithLabelValues("0").Set(3)
	f.poolSize.WithLabelValues("raw").Set(16)
	f.in.WithLabelValues("in", "influx").Add(1000)
	f.out.WithLabelValues("vm").Add(900)
	f.state.WithLabelValues("vm", "http://a/write").Set(1)
	f.state.WithLabelValues("vm", "http://b/write").Set(0)
	f.opens.WithLabelValues("vm", "http://a/write").Add(2)
	t0 := time.Unix(1000, 0)
	prev := f.gather(t)

	// Two seconds later:
	f.in.WithLabelValues("in", "influx").Add(4000)
	f.out.WithLabelValues("vm").Add(3000)
	f.dropped.WithLabelValues("influx", "parse_error").Add(10)
	f.dropped.WithLabelValues("otlp", "parse_error").Add(4)
	f.dropped.WithLabelValues("influx", "denylisted").Add(0)
	f.partRecords.WithLabelValues("in", "2").Add(200)
	f.busy.WithLabelValues("0").Add(1)
	f.write.WithLabelValues("vm").Observe(0.05)
	f.write.WithLabelValues("vm").Observe(0.15)
	now := t0.Add(2 * time.Second)
	events := []Event{
		{Time: now.Add(-time.Second), Level: "warn", Message: "output write failed; retrying", Fields: map[string]string{"output": "vm", "error": "503"}},
		{Time: now, Level: "info", Message: "partition routed", Fields: map[string]string{"output": "vm"}},
		{Time: now, Level: "error", Message: "control document rejected; the running settings stay", Fields: map[string]string{"version": "7", "diagnostics": "bad glob"}},
	}
	d := Build(Input{Now: now, Start: t0.Add(-time.Minute), Version: "v1", Health: nil, Ready: errors.New("1 of 2 memberships"),
		Cur: f.gather(t), Prev: prev, PrevTime: t0, Events: events})

	if d.Schema != SchemaVersion || d.Health != "ok" || d.Ready != "1 of 2 memberships" || d.UptimeSeconds != 62 {
		t.Errorf("header: %+v", d)
	}
	if d.Flow.DatapointsIn != 5000 || d.Flow.DatapointsOut != 3900 || d.Flow.InPerSecond != 2000 || d.Flow.OutPerSecond != 1500 || d.Flow.DroppedPerSecond != 7 {
		t.Errorf("flow: %+v", d.Flow)
	}
	if len(d.Flow.Dropped) != 1 || d.Flow.Dropped["parse_error"] != 14 {
		t.Errorf("dropped by reason (summed over formats, zeros left out): %v", d.Flow.Dropped)
	}
	if len(d.Partitions) != 3 || d.Partitions[0].Partition != 1 || d.Partitions[1].Partition != 2 || d.Partitions[2].Partition != 0 {
		t.Fatalf("partitions, worst first: %+v", d.Partitions)
	}
	if p := d.Partitions[0]; !p.Hot || len(p.Workers) != 2 || p.Lag != 100 || p.LagSeconds != 30 {
		t.Errorf("hot partition: %+v", p)
	}
	if p := d.Partitions[1]; p.RecordsPerSecond != 100 || p.Hot {
		t.Errorf("partition 2's rate: %+v", p)
	}
	if len(d.Workers) != 1 || d.Workers[0].Busy != 0.5 || d.Workers[0].Mailbox != 3 {
		t.Errorf("workers: %+v", d.Workers)
	}
	if len(d.Pools) != 1 || d.Pools[0].Size != 16 {
		t.Errorf("pools: %+v", d.Pools)
	}
	if len(d.Outputs) != 1 {
		t.Fatalf("outputs: %+v", d.Outputs)
	}
	o := d.Outputs[0]
	if o.PerSecond != 1500 || math.Abs(o.WriteMeanSeconds-0.1) > 1e-9 || o.WriteP99Seconds != 1 {
		t.Errorf("output rates and write times: %+v", o)
	}
	if len(o.Endpoints) != 2 || o.Endpoints[0].Breaker != "open" || o.Endpoints[0].Opens != 2 || o.Endpoints[1].Breaker != "closed" {
		t.Errorf("endpoints: %+v", o.Endpoints)
	}
	if o.LastError != "output write failed; retrying: 503" || o.LastErrorTime == nil {
		t.Errorf("last error: %q", o.LastError)
	}
	if d.Control.LastRejected != "control document rejected; the running settings stay; version: 7; diagnostics: bad glob" {
		t.Errorf("control: %+v", d.Control)
	}
	if len(d.Events) != 3 || d.Events[0].Message != events[2].Message {
		t.Errorf("events, newest first: %+v", d.Events)
	}

	// Without an earlier gathering there are no rates, and nothing is made up.
	d = Build(Input{Now: now, Start: t0, Cur: f.gather(t)})
	if d.Flow.InPerSecond != 0 || d.Partitions[0].RecordsPerSecond != 0 || d.Workers[0].Busy != 0 {
		t.Errorf("rates without a previous gathering: %+v", d.Flow)
	}
}

// TestEventSink: info lines and above become events, the progress line does not, fields that
// may hold secrets are left out and URLs lose their credentials; the ring is bounded.
func TestEventSink(t *testing.T) {
	s := NewServer(prometheus.NewRegistry(), "test")
	log := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "sluice", Output: io.Discard})
	log.RegisterSink(s.Sink())
	log.Debug("not an event")
	log.Info("progress", "in", 1)
	log.Named("writer").Warn("output write failed; retrying", "output", "vm", "bearer_token", "abc",
		"error", `Post "https://u:pw@vm/api/v1/write?token=t0k&x=1": connection refused`)
	d := s.Doc()
	if len(d.Events) != 1 {
		t.Fatalf("events: %+v", d.Events)
	}
	e := d.Events[0]
	if _, ok := e.Fields["bearer_token"]; ok || e.Fields["logger"] != "writer" || e.Fields["output"] != "vm" {
		t.Errorf("fields: %v", e.Fields)
	}
	if got := e.Fields["error"]; strings.Contains(got, "pw") || strings.Contains(got, "t0k") || !strings.Contains(got, "https://vm/api/v1/write") {
		t.Errorf("error field not redacted: %q", got)
	}
	if d.Health != "starting" || d.Ready != "starting" {
		t.Errorf("before the pipeline runs: health %q ready %q", d.Health, d.Ready)
	}
	for i := 0; i < 3*maxEvents; i++ {
		log.Info("partition routed", "i", i)
	}
	if d = s.Doc(); len(d.Events) != maxEvents || d.Events[0].Fields["i"] != "299" {
		t.Errorf("%d events kept, newest %v", len(d.Events), d.Events[0].Fields)
	}
}

// TestServer: the page and the document are served, the sampler builds the flow history, and
// the page loads nothing from elsewhere.
func TestServer(t *testing.T) {
	f := newFake(t)
	s := NewServer(f.reg, "test")
	s.Checks(func() error { return nil }, func() error { return nil })
	t0 := time.Now()
	s.sample(t0)
	f.in.WithLabelValues("in", "influx").Add(400)
	s.sample(t0.Add(2 * time.Second))
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "api/v1/status") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("GET /: %d %q", resp.StatusCode, resp.Header)
	}
	for _, remote := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(strings.ReplaceAll(string(page), "http://www.w3.org/2000/svg", ""), remote) {
			t.Errorf("the page refers to %q: it must work without a network", remote)
		}
	}
	if resp, err := http.Get(srv.URL + "/nothing"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /nothing: %v %v", resp.StatusCode, err)
	}
	d := s.Doc()
	if len(d.Flow.History) != 1 || d.Flow.History[0].In != 200 || d.Health != "ok" {
		t.Errorf("history %+v, health %q", d.Flow.History, d.Health)
	}
}

// TestEmptyListsAreArrays: with nothing to show, every list is [] in the JSON, never null (the
// page and scripts iterate them).
func TestEmptyListsAreArrays(t *testing.T) {
	b, err := json.Marshal(Build(Input{Now: time.Now(), Start: time.Now()}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "null") {
		t.Errorf("null in %s", b)
	}
}
