package actors

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/latency"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/output"
	"github.com/sluicehq/sluice/placement"
	"github.com/sluicehq/sluice/shed"
)

// The pipeline's Prometheus metrics, one struct per actor kind. Each is a prometheus.Collector
// that reads, at scrape time, the atomic counters the actors already keep (added to once per
// batch or per output record, never per datapoint), so exporting costs the hot path nothing and
// /metrics can never disagree with the stop summary. Pipeline.Register registers them
// explicitly; nothing goes through the global registry.

// topicCounters are one input topic's totals, added to by the worker that decoded a batch.
type topicCounters struct {
	records, bytes, datapoints atomic.Int64
}

// outputCounters are one output's totals, added to by its writers per part written and per flush.
type outputCounters struct {
	datapoints, rejected atomic.Int64
	records, bytes       atomic.Int64
	retryable, permanent atomic.Int64
	// partial counts 2xx answers that wrote fewer samples than sent, unwritten those samples;
	// confirmed is the samples receivers said they wrote (remote write 2.0).
	partial, unwritten, confirmed atomic.Int64
	// relabelDropped counts datapoints routed to the output that its relabel rules dropped.
	relabelDropped  atomic.Int64
	writeSeconds    prometheus.Histogram
	lastWriteFailed atomic.Bool
}

// writeBuckets are the output write latency buckets (seconds): a produce round trip is
// milliseconds on a healthy cluster and seconds when the broker throttles.
var writeBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newOutputCounters(output string) *outputCounters {
	return &outputCounters{writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sluice_output_write_duration_seconds", Help: "Time from a writer's flush to the output's acknowledgement of each shard record or request, retries included.",
		ConstLabels: prometheus.Labels{"output": output}, Buckets: writeBuckets})}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// describe sends a collector's descriptors.
func describe(ch chan<- *prometheus.Desc, descs ...*prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v int64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// readerMetrics: what was read from Kafka, and how far behind the group is.
type readerMetrics struct {
	d                       *deps
	records, bytes, lag, up *prometheus.Desc
	owned, fresh, marked    *prometheus.Desc
	latency, missing        *prometheus.Desc
	commitsRefused          *prometheus.Desc
	txns, txnSeconds        *prometheus.Desc
	partRecords             *prometheus.Desc
}

func newReaderMetrics(d *deps) *readerMetrics {
	return &readerMetrics{d: d,
		records:        desc("sluice_input_records_total", "Kafka records read and decoded, by input topic.", "topic", "format"),
		bytes:          desc("sluice_input_bytes_total", "Bytes of Kafka record values read, by input topic.", "topic", "format"),
		lag:            desc("sluice_consumer_lag", "Records between a claimed partition's last read offset and its high watermark.", "topic", "partition"),
		up:             desc("sluice_group_sessions", "Consumer group sessions the readers are in now (readers × inputs when all have joined)."),
		owned:          desc("sluice_partition_owned", "1 for each input partition a reader's group session is consuming now.", "topic", "partition", "reader"),
		fresh:          desc("sluice_partition_freshness_seconds", "Now minus the Kafka timestamp of the oldest record of a claimed partition not yet acknowledged by the outputs (0: nothing in flight).", "topic", "partition"),
		latency:        desc("sluice_end_to_end_latency_seconds", "Records' latency from their Kafka timestamp to the outputs' acknowledgement of every datapoint of their batch (what sluice bench reports as latency)."),
		commitsRefused: desc("sluice_offset_commits_refused_total", "Offset commits the group coordinator refused because a rebalance went on without this member: what was marked since the partition's last commit is consumed again (duplicates, nothing lost)."),
		txns:           desc("sluice_transactions_total", "An exactly-once output's transactions, by result: committed (records and input offsets together) or aborted (neither; the task escalates).", "result"),
		txnSeconds:     desc("sluice_transaction_seconds_total", "Time from shutting the readers out to each committed transaction's end, summed: divided by the committed count, the pause a transaction costs."),
		missing:        desc("sluice_input_topic_missing", "1 for each input topic the brokers say does not exist; the readers wait for it.", "topic"),
		partRecords:    desc("sluice_partition_records_total", "Kafka records read from a claimed partition since this process claimed it (the status page's per-partition rate).", "topic", "partition"),
		marked:         desc("sluice_partition_commit_age_seconds", "Time since a claimed partition's committable offset last advanced (sarama commits it within commit_interval).", "topic", "partition"),
	}
}

func (m *readerMetrics) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, m.records, m.bytes, m.lag, m.up, m.owned, m.fresh, m.marked, m.latency, m.missing, m.commitsRefused, m.partRecords)
	if m.d.cfg.ExactlyOnce() != nil {
		describe(ch, m.txns, m.txnSeconds)
	}
	m.d.rebalances.started.Describe(ch)
	m.d.rebalances.duration.Describe(ch)
}

func (m *readerMetrics) Collect(ch chan<- prometheus.Metric) {
	for topic, dec := range m.d.decoders {
		counter(ch, m.records, dec.in.records.Load(), topic, dec.format)
		counter(ch, m.bytes, dec.in.bytes.Load(), topic, dec.format)
	}
	now := time.Now()
	for _, c := range m.d.claims.snapshot() {
		part := strconv.Itoa(int(c.Partition))
		gauge(ch, m.lag, float64(c.lag.Load()), c.Topic, part)
		gauge(ch, m.owned, 1, c.Topic, part, strconv.Itoa(c.reader))
		gauge(ch, m.fresh, c.freshness(now).Seconds(), c.Topic, part)
		gauge(ch, m.marked, c.commitAge(now).Seconds(), c.Topic, part)
		counter(ch, m.partRecords, c.records.Load(), c.Topic, part)
	}
	gauge(ch, m.up, float64(m.d.claims.inGroup.Load()))
	counter(ch, m.commitsRefused, m.d.commitsRefused.Load())
	if m.d.cfg.ExactlyOnce() != nil {
		counter(ch, m.txns, m.d.stats.TxnCommitted.Load(), "committed")
		counter(ch, m.txns, m.d.stats.TxnAborted.Load(), "aborted")
		ch <- prometheus.MustNewConstMetric(m.txnSeconds, prometheus.CounterValue, float64(m.d.stats.TxnCommitNanos.Load())/1e9)
	}
	for _, t := range m.d.missing.list() {
		gauge(ch, m.missing, 1, t)
	}
	buckets, count, sum := m.d.latency.Cumulative(latency.ExportBuckets)
	ch <- prometheus.MustNewConstHistogram(m.latency, count, sum, buckets)
	m.d.rebalances.started.Collect(ch)
	m.d.rebalances.duration.Collect(ch)
}

// workerMetrics: datapoints decoded and dropped, and each worker's load.
type workerMetrics struct {
	d                            *deps
	datapoints, dropped, skipped *prometheus.Desc
	busy, mailbox                *prometheus.Desc
	redelivered                  *prometheus.Desc
}

func newWorkerMetrics(d *deps) *workerMetrics {
	return &workerMetrics{d: d,
		datapoints:  desc("sluice_input_datapoints_total", "Datapoints (lines) read, valid or not, by input topic.", "topic", "format"),
		dropped:     desc("sluice_dropped_total", "Datapoints dropped, by input format and reason.", "format", "reason"),
		skipped:     desc("sluice_skipped_total", "Values skipped by design, not dropped (influx string fields), by input format and reason.", "format", "reason"),
		busy:        desc("sluice_worker_busy_seconds_total", "Time each worker spent on batches.", "worker"),
		mailbox:     desc("sluice_worker_mailbox_depth", "Batches each worker holds: the one it works on and those queued behind it.", "worker"),
		redelivered: desc("sluice_redeliveries_total", "Batches handed to another worker after the one holding them failed."),
	}
}

func (m *workerMetrics) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, m.datapoints, m.dropped, m.skipped, m.busy, m.mailbox, m.redelivered)
}

func (m *workerMetrics) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	for topic, dec := range d.decoders {
		counter(ch, m.datapoints, dec.in.datapoints.Load(), topic, dec.format)
	}
	for format, drops := range d.stats.DroppedByFormat {
		for r := range drops {
			desc := m.dropped
			if messages.Reason(r).Skipped() {
				desc = m.skipped
			}
			counter(ch, desc, drops[r].Load(), format, messages.Reason(r).String())
		}
	}
	for i := range d.load.busy {
		w := strconv.Itoa(i)
		ch <- prometheus.MustNewConstMetric(m.busy, prometheus.CounterValue, time.Duration(d.load.busy[i].Load()).Seconds(), w)
		gauge(ch, m.mailbox, float64(d.load.queue[i].Load()), w)
	}
	counter(ch, m.redelivered, d.stats.Redelivered.Load())
}

// writerMetrics: what reached each output, how long writes took and how they failed, and the
// remote-write endpoints' circuit breakers.
type writerMetrics struct {
	d                                       *deps
	datapoints, records, bytes, errors, dpr *prometheus.Desc
	partial, unwritten, confirmed           *prometheus.Desc
	epState, epRequests, epOpens            *prometheus.Desc
	relabeled                               *prometheus.Desc
}

func newWriterMetrics(d *deps) *writerMetrics {
	return &writerMetrics{d: d,
		datapoints: desc("sluice_output_datapoints_total", "Datapoints the output acknowledged (a datapoint routed to two outputs counts in each).", "output"),
		records:    desc("sluice_output_records_total", "Shard records (Kafka) or requests (remote write) the output acknowledged.", "output"),
		bytes:      desc("sluice_output_bytes_total", "Bytes of shard records or requests (after compression) the output acknowledged.", "output"),
		errors:     desc("sluice_output_errors_total", "Failed output writes: retryable ones are retried, permanent ones dead-lettered or dropped.", "output", "kind"),
		dpr:        desc("sluice_output_rejected_datapoints_total", "Datapoints the output refused for good (also in sluice_dropped_total, reason output_rejected).", "output"),
		partial:    desc("sluice_output_partial_writes_total", "Remote-write 2.0 requests the receiver accepted (2xx) but wrote fewer samples of than sent (X-Prometheus-Remote-Write-Samples-Written).", "output"),
		unwritten:  desc("sluice_output_unwritten_samples_total", "Samples of those partial writes the receiver did not write.", "output"),
		confirmed:  desc("sluice_output_confirmed_samples_total", "Samples a remote-write 2.0 receiver confirmed written (X-Prometheus-Remote-Write-Samples-Written).", "output"),
		epState:    desc("sluice_output_endpoint_state", "A remote-write endpoint's circuit breaker: 0 closed, 1 open, 2 half-open (one probe request).", "output", "endpoint"),
		epRequests: desc("sluice_output_endpoint_requests_total", "Requests to a remote-write endpoint, by result: ok, or error (network, 5xx, 429; a 4xx counts as ok for the endpoint).", "output", "endpoint", "result"),
		epOpens:    desc("sluice_output_endpoint_breaker_opens_total", "Times a remote-write endpoint's circuit breaker opened.", "output", "endpoint"),
		relabeled:  desc("sluice_output_relabel_dropped_total", "Datapoints routed to the output that its relabel rules dropped (other outputs may still have received them; not in sluice_dropped_total).", "output"),
	}
}

func (m *writerMetrics) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, m.datapoints, m.records, m.bytes, m.errors, m.dpr, m.partial, m.unwritten, m.confirmed, m.epState, m.epRequests, m.epOpens, m.relabeled)
	for _, o := range m.d.plans {
		o.counters.writeSeconds.Describe(ch)
	}
}

func (m *writerMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, plan := range m.d.plans {
		name, o := plan.cfg.Name, plan.counters
		counter(ch, m.datapoints, o.datapoints.Load(), name)
		counter(ch, m.records, o.records.Load(), name)
		counter(ch, m.bytes, o.bytes.Load(), name)
		counter(ch, m.errors, o.retryable.Load(), name, "retryable")
		counter(ch, m.errors, o.permanent.Load(), name, "permanent")
		counter(ch, m.dpr, o.rejected.Load(), name)
		counter(ch, m.partial, o.partial.Load(), name)
		counter(ch, m.unwritten, o.unwritten.Load(), name)
		counter(ch, m.confirmed, o.confirmed.Load(), name)
		counter(ch, m.relabeled, o.relabelDropped.Load(), name)
		o.writeSeconds.Collect(ch)
		eps, ok := plan.out.(output.Endpoints)
		if !ok {
			continue
		}
		for _, e := range eps.Endpoints() {
			gauge(ch, m.epState, float64(e.State), name, e.URL)
			counter(ch, m.epRequests, e.OK, name, e.URL, "ok")
			counter(ch, m.epRequests, e.Failed, name, e.URL, "error")
			counter(ch, m.epOpens, e.Opens, name, e.URL)
		}
	}
}

// deadLetterMetrics: lines and records sent to the dead-letter topic.
type deadLetterMetrics struct {
	d      *deps
	lines  *prometheus.Desc
	errors *prometheus.Desc
}

func newDeadLetterMetrics(d *deps) *deadLetterMetrics {
	return &deadLetterMetrics{d: d,
		lines:  desc("sluice_dead_letters_total", "Lines and records written to the dead-letter topic."),
		errors: desc("sluice_dead_letter_errors_total", "Failed writes to the dead-letter topic (retried)."),
	}
}

func (m *deadLetterMetrics) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, m.lines, m.errors)
}

func (m *deadLetterMetrics) Collect(ch chan<- prometheus.Metric) {
	counter(ch, m.lines, m.d.stats.DeadLettered.Load())
	counter(ch, m.errors, m.d.stats.DeadLetterErrors.Load())
}

// supervisorMetrics: the root's view of its children and the batch pools that bound memory.
type supervisorMetrics struct {
	d                                     *deps
	restarts, respawns, inUse, size, left *prometheus.Desc
	budget, limit                         *prometheus.Desc
}

func newSupervisorMetrics(d *deps) *supervisorMetrics {
	return &supervisorMetrics{d: d,
		restarts: desc("sluice_actor_restarts_total", "Actor restarts after a failure, by actor kind.", "kind"),
		respawns: desc("sluice_actor_respawns_total", "Actors replaced after exhausting their restart budget (the process then stops)."),
		inUse:    desc("sluice_batch_pool_in_use", "Batches taken from a pool and not yet released.", "pool"),
		size:     desc("sluice_batch_pool_size", "Batches a pool holds.", "pool"),
		left:     desc("sluice_batches_left_total", "Batches a stop left unfinished (their offsets stay uncommitted)."),
		budget:   desc("sluice_memory_budget_bytes", "The memory budget computed at start, by part (pools, consumers, outputs, workers, runtime): the working set at full load.", "part"),
		limit:    desc("sluice_memory_limit_bytes", "The Go soft memory limit in force (GOMEMLIMIT, pipeline.memory_limit, or twice the budget)."),
	}
}

func (m *supervisorMetrics) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, m.restarts, m.respawns, m.inUse, m.size, m.left, m.budget, m.limit)
}

func (m *supervisorMetrics) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	for i, kind := range actorKinds {
		counter(ch, m.restarts, d.stats.RestartsByKind[i].Load(), kind)
	}
	counter(ch, m.respawns, d.stats.Respawns.Load())
	gauge(ch, m.inUse, float64(d.rawPool.InUse()), "raw")
	gauge(ch, m.size, float64(d.rawPool.Size()), "raw")
	gauge(ch, m.inUse, float64(d.shardPool.InUse()), "shard")
	gauge(ch, m.size, float64(d.shardPool.Size()), "shard")
	if d.deadLetterPool != nil {
		gauge(ch, m.inUse, float64(d.deadLetterPool.InUse()), "dead_letter")
		gauge(ch, m.size, float64(d.deadLetterPool.Size()), "dead_letter")
	}
	counter(ch, m.left, d.stats.BatchesLeft.Load())
	if b := d.budget.Load(); b != nil {
		for _, part := range b.Parts() {
			gauge(ch, m.budget, float64(part.Bytes), part.Name)
		}
	}
	if l := d.memoryLimit.Load(); l > 0 {
		gauge(ch, m.limit, float64(l))
	}
}

// coordinatorMetrics: routing decisions and the loads behind them.
type coordinatorMetrics struct {
	d                  *deps
	changes, hot, load *prometheus.Desc
	version, route     *prometheus.Desc
}

func newCoordinatorMetrics(d *deps) *coordinatorMetrics {
	return &coordinatorMetrics{d: d,
		changes: desc("sluice_routing_changes_total", "Partitions the coordinator moved between workers (or spread, or pinned again)."),
		hot:     desc("sluice_hot_partitions", "Partitions spread over several workers now."),
		load:    desc("sluice_partition_load_bytes_per_second", "A claimed partition's measured load: read rate plus what draining its lag within an interval needs.", "topic", "partition"),
		route:   desc("sluice_partition_worker", "1 for each worker a claimed partition's batches go to now: one, or several when the coordinator spread a hot partition.", "topic", "partition", "worker"),
		version: desc("sluice_routing_table_version", "Version of the routing table readers use (0: none yet, batches go by hash)."),
	}
}

func (m *coordinatorMetrics) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, m.changes, m.hot, m.load, m.version, m.route)
}

func (m *coordinatorMetrics) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	counter(ch, m.changes, d.stats.RoutingChanges.Load())
	gauge(ch, m.hot, float64(d.stats.HotPartitions.Load()))
	if loads := d.claims.loads.Load(); loads != nil {
		for k, l := range *loads {
			gauge(ch, m.load, l, k.Topic, strconv.Itoa(int(k.Partition)))
		}
	}
	var v uint64
	t := d.partitions.Load()
	if t != nil {
		v = t.Version
	}
	gauge(ch, m.version, float64(v))
	for _, c := range d.claims.snapshot() {
		part := strconv.Itoa(int(c.Partition))
		if ws := routeOf(t, c.Topic, c.Partition); len(ws) > 0 {
			for _, w := range ws {
				gauge(ch, m.route, 1, c.Topic, part, strconv.Itoa(w))
			}
		} else if d.workers > 0 {
			gauge(ch, m.route, 1, c.Topic, part, strconv.Itoa(hashWorker(c.Topic, c.Partition, d.workers)))
		}
	}
}

// routeOf is the workers the routing table names for a partition (none: it goes by hash).
func routeOf(t *placement.Table, topic string, partition int32) []int {
	if t == nil {
		return nil
	}
	return t.Assignment[placement.Key{Topic: topic, Partition: partition}]
}

// limitMetrics: the cardinality budgets and shedding.
type limitMetrics struct {
	d                               *deps
	series, admitted, dropped, shed *prometheus.Desc
	factor, max                     *prometheus.Desc
}

func newLimitMetrics(d *deps) *limitMetrics {
	return &limitMetrics{d: d,
		series:   desc("sluice_limit_series", "Distinct series a cardinality budget saw in its current window (exact while few, then a HyperLogLog estimate).", "limit", "value"),
		admitted: desc("sluice_limit_admitted_series", "Series a cardinality budget admitted in its current window.", "limit", "value"),
		max:      desc("sluice_limit_max_series", "A cardinality budget's max_series: series admitted per window (per tag value with per_tag).", "limit", "value"),
		dropped:  desc("sluice_limit_dropped_total", "Datapoints of new series a cardinality budget dropped.", "limit"),
		shed:     desc("sluice_shed_total", "Datapoints shed under overload, by route (its index among the route blocks) and priority class.", "route", "class"),
		factor:   desc("sluice_shed_factor", "The fraction of a priority class's series kept (1: nothing shed).", "class"),
	}
}

func (m *limitMetrics) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, m.series, m.admitted, m.dropped, m.shed, m.factor, m.max)
}

func (m *limitMetrics) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	usage, dropped := d.settings.limits.Load().Usage()
	for _, u := range usage {
		gauge(ch, m.series, float64(u.Series), u.Limit, u.Value)
		gauge(ch, m.admitted, float64(u.Admitted), u.Limit, u.Value)
		gauge(ch, m.max, float64(u.Max), u.Limit, u.Value)
	}
	for name, n := range dropped {
		counter(ch, m.dropped, n, name)
	}
	byRoute, _ := d.shed.Shed()
	classes := *d.settings.classes.Load()
	for r, n := range byRoute {
		class := shed.Normal
		if r < len(classes) {
			class = classes[r]
		}
		counter(ch, m.shed, n, strconv.Itoa(r), class.String())
	}
	for c := shed.Class(0); c < shed.NumClasses; c++ {
		gauge(ch, m.factor, d.shed.Factor(c), c.String())
	}
}

// Register registers the pipeline's metrics, one collector per actor kind, with reg.
func (p *Pipeline) Register(reg prometheus.Registerer) error {
	d := p.d
	for _, c := range []prometheus.Collector{newReaderMetrics(d), newWorkerMetrics(d), newWriterMetrics(d),
		newDeadLetterMetrics(d), newSupervisorMetrics(d), newCoordinatorMetrics(d), newLimitMetrics(d), newAggregateMetrics(d)} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// aggregateMetrics: per aggregate, what stage B took and emitted, the output series it holds and
// how far its watermark is behind the wall clock.
type aggregateMetrics struct {
	d                            *deps
	in, emitted, series, lagSecs *prometheus.Desc
}

func newAggregateMetrics(d *deps) *aggregateMetrics {
	return &aggregateMetrics{d: d,
		in:      desc("sluice_aggregate_input_datapoints_total", "Datapoints the aggregation stage took from the aggregate's topic (what a partition's previous owner took before its last checkpoint is not counted again; what it took after, the next owner takes and counts again); late and max_series drops are in sluice_dropped_total{format=\"aggregate.NAME\"}.", "aggregate"),
		emitted: desc("sluice_aggregate_emitted_total", "Output samples of closed windows the aggregation stage sent on (a window emitted again after a crash counts again, with the same value).", "aggregate"),
		series:  desc("sluice_aggregate_output_series", "Output series in the open windows of the aggregate's partitions this process owns.", "aggregate"),
		lagSecs: desc("sluice_aggregate_watermark_lag_seconds", "Wall clock minus the oldest watermark of the aggregate's partitions this process owns: how long after their end windows are closing.", "aggregate"),
	}
}

func (m *aggregateMetrics) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, m.in, m.emitted, m.series, m.lagSecs)
}

func (m *aggregateMetrics) Collect(ch chan<- prometheus.Metric) {
	series, oldest := map[string]int64{}, map[string]int64{}
	for _, c := range m.d.claims.snapshot() {
		if !c.aggregate {
			continue
		}
		series[c.Topic] += c.aggSeries.Load()
		if wm := c.aggWatermark.Load(); wm != 0 && (oldest[c.Topic] == 0 || wm < oldest[c.Topic]) {
			oldest[c.Topic] = wm
		}
	}
	now := time.Now().UnixMilli()
	for _, a := range m.d.cfg.Aggregates {
		dec := m.d.decoders[a.Topic]
		counter(ch, m.in, dec.agg.in.Load(), a.Name)
		counter(ch, m.emitted, dec.agg.emitted.Load(), a.Name)
		gauge(ch, m.series, float64(series[a.Topic]), a.Name)
		if wm := oldest[a.Topic]; wm != 0 {
			gauge(ch, m.lagSecs, float64(now-wm)/1000, a.Name)
		}
	}
}
