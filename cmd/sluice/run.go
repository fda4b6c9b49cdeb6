package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/cmd/sluice/internal/earlysignal"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/shed"
)

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	path := fs.String("config", "", "config file (optional with -dev)")
	dev := fs.Bool("dev", false, "start an embedded Kafka-protocol broker, create the topics and run against it")
	devBroker := fs.String("dev-broker", "127.0.0.1:9092", "with -dev: the embedded broker's listen address")
	devRate := fs.Int("dev-rate", 0, "with -dev: datapoints per second to generate into the input topic (0: none)")
	devPartitions := fs.Int("dev-partitions", 8, "with -dev: partitions of each input topic")
	retentionAge := fs.Duration("dev-retention", defaultDevRetention, "with -dev: the embedded broker drops records older than this")
	devRetentionBytes := fs.String("dev-retention-bytes", "4MiB", "with -dev: the embedded broker keeps at most this much of each partition (oldest dropped first)")
	progress := fs.Duration("progress", 0, "log a progress line at this interval (default 5s with -dev, off otherwise)")
	httpAddr := fs.String("http", "", "serve /metrics, /healthz and /readyz here instead of http.address (port 0: any free port)")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	// From the first moment (earlysignal catches them from before the packages' initialization):
	// a SIGTERM while the process starts, the config loads or the pipeline starts (an ECS deploy
	// that changes its mind) waits for the start to end, then stops cleanly with exit 0, never the
	// signal's default death (143).
	sigs := earlysignal.C
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	if *path == "" && !*dev {
		fmt.Fprintln(stderr, "sluice run: -config FILE is required (or -dev for a self-contained run)")
		return exitError
	}
	if *dev && *progress == 0 {
		*progress = 5 * time.Second
	}

	var cfg *config.Config
	var broker *devBrokerT
	if *dev {
		n, err := config.ParseSize(*devRetentionBytes)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "sluice run -dev: -dev-retention-bytes %q: %v\n", *devRetentionBytes, err)
			return exitError
		case n <= 0 || *retentionAge <= 0:
			fmt.Fprintf(stderr, "sluice run -dev: -dev-retention %s and -dev-retention-bytes %q must be positive\n", *retentionAge, *devRetentionBytes)
			return exitError
		}
		ret := devRetention{age: *retentionAge, bytes: int64(n)}
		if broker, err = startDevBroker(*devBroker, ret); err != nil {
			fmt.Fprintf(stderr, "sluice run -dev: %v\n", err)
			return exitError
		}
		defer broker.Close()
		if *path != "" {
			// The file's settings, with the embedded broker and dev mode's topics.
			var ok bool
			if cfg, ok = loadConfig(*path, stderr); !ok {
				return exitError
			}
			useDevBroker(cfg, *devBroker)
		} else if cfg, err = config.Load("-dev", []byte(devConfig(*devBroker))); err != nil {
			fmt.Fprintf(stderr, "sluice run -dev: built-in config: %v\n", err)
			return exitError
		}
	} else {
		var ok bool
		if cfg, ok = loadConfig(*path, stderr); !ok {
			return exitError
		}
	}
	if *httpAddr != "" {
		cfg.HTTP.Address = *httpAddr
	}
	rl := &reloader{path: *path}
	if *dev {
		rl.devBroker = *devBroker
	}
	if *httpAddr != "" {
		rl.httpAddr = *httpAddr
	}
	return runPipeline(cfg, broker, rl, sigs, *devRate, *devPartitions, *progress, stdout)
}

// reloader re-reads the config file on SIGHUP with the same command-line overrides start-up
// applied, so that they do not read as changes.
type reloader struct {
	path, devBroker, httpAddr string
	reloads                   *prometheus.CounterVec
	// control puts the applied control document back over the reloaded file.
	control *controlState
}

func newReloadCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_config_reloads_total",
		Help: "SIGHUP config reloads, by result: ok (applied, possibly with settings that need a restart) or rejected (invalid file; the running config stays)."},
		[]string{"result"})
	c.WithLabelValues("ok") // exported as 0 from the start, so alerts and dashboards see the series
	c.WithLabelValues("rejected")
	return c
}

// reload re-reads the file and applies what can change while running; an invalid file changes
// nothing. Every outcome is logged and counted.
func (r *reloader) reload(p *actors.Pipeline, log hclog.Logger) {
	if r.path == "" {
		log.Warn("SIGHUP: no config file to reload (started with -dev and no -config)")
		return
	}
	next, err := config.LoadFile(r.path)
	if err != nil {
		r.reloads.WithLabelValues("rejected").Inc()
		var buf strings.Builder
		var ce *config.Error
		if errors.As(err, &ce) {
			ce.Write(&buf)
		} else {
			buf.WriteString(err.Error())
		}
		log.Error("config reload rejected; the running config stays", "file", r.path, "diagnostics", buf.String())
		return
	}
	if r.devBroker != "" {
		useDevBroker(next, r.devBroker)
	}
	if r.httpAddr != "" {
		next.HTTP.Address = r.httpAddr
	}
	if r.control != nil {
		next = r.control.overFile(next)
	}
	applied, restart, err := p.Reload(next)
	if err != nil {
		r.reloads.WithLabelValues("rejected").Inc()
		log.Error("config reload rejected; the running config stays", "file", r.path, "error", err)
		return
	}
	if lvl := hclog.LevelFromString(next.Log.Level); lvl != log.GetLevel() {
		log.SetLevel(lvl)
		applied = append(applied, "log.level")
	}
	r.reloads.WithLabelValues("ok").Inc()
	log.Info("config reloaded", "file", r.path, "applied", strings.Join(applied, ","), "needs_restart", strings.Join(restart, ","))
	if len(restart) > 0 {
		log.Warn("config changes that need a restart were ignored", "blocks", strings.Join(restart, ","))
	}
}

func runPipeline(cfg *config.Config, broker *devBrokerT, rl *reloader, sigs <-chan os.Signal, rate, partitions int, progress time.Duration, stdout io.Writer) int {
	// From the start, so that a SIGHUP during start-up is a reload once running, not the default
	// action (exit).
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	log := newLogger(cfg, stdout)
	if broker != nil {
		topics, err := broker.createTopics(cfg, partitions)
		if err != nil {
			log.Error("creating dev topics", "error", err)
			return exitError
		}
		log.Info("embedded Kafka-protocol broker listening; any Kafka client can produce to it",
			"address", cfg.Kafka.Brokers[0], "topics", strings.Join(topics, ","))
	}
	// The control topic first: its settings apply before the pipeline joins its input groups.
	ctl := newControlState(cfg, log)
	rl.control = ctl
	p, err := actors.New(ctl.boot(), log, nil)
	if err != nil {
		log.Error("cannot build the pipeline", "error", err)
		return exitError
	}
	rl.reloads = newReloadCounter()
	h, err := startHTTP(cfg, p, log, append(ctl.collectors(), rl.reloads)...)
	if err != nil {
		log.Error("cannot serve http", "error", err)
		return exitError
	}
	defer h.close()
	startCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = p.Start(startCtx)
	cancel()
	if err != nil {
		log.Error("cannot start", "error", err)
		return exitError
	}
	// Dev mode's embedded broker keeps its records in this process: the budget is logged, not set
	// as the soft limit.
	applyMemoryLimit(p, log, broker == nil)
	h.running(p)
	if broker != nil {
		// A log line like the others (JSON when stdout is not a terminal), once.
		produce, tail, metrics, page, statusCmd := devHints(cfg, h.addr.String())
		log.Info("dev mode is running; try next", "produce_a_line", produce, "watch_the_output", tail, "read_the_metrics", metrics,
			"open_the_status_page", page, "status_in_a_terminal", statusCmd)
	}
	var gen *generator
	if broker != nil && rate > 0 {
		gen = startGenerator(cfg, rate, log)
	}

	updates := ctl.follow()
	defer ctl.close()
	var tick <-chan time.Time
	if progress > 0 {
		t := time.NewTicker(progress)
		defer t.Stop()
		tick = t.C
	}
	code := exitOK
	pr := newProgress(p)
loop:
	for {
		select {
		case s := <-sigs:
			log.Info("shutting down", "signal", s.String(), "timeout", cfg.Pipeline.ShutdownTimeout.String())
			break loop
		case <-hups:
			rl.reload(p, log)
		case r := <-updates:
			ctl.apply(p, r, log)
		case err := <-p.Fatal():
			log.Error("escalating: shutting down so the orchestrator replaces this task", "error", err)
			code = exitEscalated
			break loop
		case <-tick:
			pr.log(log)
		}
	}
	if gen != nil {
		gen.stop()
	}
	alive := p.Alive() // before stopping: the counts the supervisors kept
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Pipeline.ShutdownTimeout)
	defer cancel()
	s := p.Stop(ctx)
	fields := []any{"datapoints_in", s.DatapointsIn, "datapoints_out", s.DatapointsOut,
		"dropped", s.Dropped.Total(), "skipped", s.Dropped.Skipped(), "records_in", s.RecordsIn, "drained", s.Drained,
		"batches_left", s.BatchesLeft, "restarts", s.Restarts, "dead_lettered", s.DeadLettered,
		"readers_alive", alive["reader"], "workers_alive", alive["worker"], "writers_alive", alive["writer"],
		"routing_changes", s.RoutingChanges, "hot_partitions", s.HotPartitions}
	fields = append(fields, dropFields(s.Dropped)...)
	log.Info("sluice stopped", fields...)
	return code
}

// applyMemoryLimit tells the garbage collector the pipeline's memory budget — what `sluice run`
// and `sluice bench` both do at start — and logs the budget by part. GOMEMLIMIT wins, then
// pipeline.memory_limit, then twice the budget's working set (the collector's headroom).
func applyMemoryLimit(p *actors.Pipeline, log hclog.Logger, set bool) int64 {
	b := p.MemoryBudget()
	fromEnv := os.Getenv("GOMEMLIMIT") != ""
	source := "budget"
	switch {
	case !set:
		source = "not set: dev mode's embedded broker shares the heap"
	case fromEnv:
		source = "GOMEMLIMIT"
	case p.Config().Pipeline.MemoryLimit > 0:
		source = "pipeline.memory_limit"
	}
	var limit int64
	gcPercent := debug.SetGCPercent(100)
	debug.SetGCPercent(gcPercent)
	if set {
		limit = p.SetMemoryLimit(fromEnv)
		gcPercent = budget.SetGCPercent()
	}
	fields := []any{"working_set_mib", b.WorkingSet() >> 20, "limit_mib", limit >> 20, "limit_from", source,
		"gc_percent", gcPercent, "input_partitions", b.Partitions}
	for _, part := range b.Parts() {
		fields = append(fields, part.Name+"_mib", part.Bytes>>20)
	}
	log.Info("memory budget", fields...)
	if set && limit < b.WorkingSet()*3/2 {
		log.Warn("the memory limit leaves the garbage collector little headroom above the working set: it will run often and take CPU",
			"limit_mib", limit>>20, "working_set_mib", b.WorkingSet()>>20)
	}
	return limit
}

func dropFields(d messages.DropCounts) []any {
	var out []any
	for r, n := range d {
		switch {
		case n > 0 && messages.Reason(r).Skipped():
			out = append(out, "skipped_"+messages.Reason(r).String(), n)
		case n > 0:
			out = append(out, "dropped_"+messages.Reason(r).String(), n)
		}
	}
	return out
}

// progressT turns counter snapshots into rates.
type progressT struct {
	p        *actors.Pipeline
	last     actors.Snapshot
	lastAt   time.Time
	lastGCNs uint64
}

func newProgress(p *actors.Pipeline) *progressT {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &progressT{p: p, lastAt: time.Now(), lastGCNs: ms.PauseTotalNs}
}

func (pr *progressT) log(log hclog.Logger) {
	now, s := time.Now(), pr.p.Stats()
	secs := now.Sub(pr.lastAt).Seconds()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	raw, rawN, sb, sbN := pr.p.PoolsInUse()
	var drops messages.DropCounts
	for i := range drops {
		drops[i] = s.Dropped[i] - pr.last.Dropped[i]
	}
	fields := []any{
		"in_dp_per_s", int64(float64(s.DatapointsIn-pr.last.DatapointsIn) / secs),
		"out_dp_per_s", int64(float64(s.DatapointsOut-pr.last.DatapointsOut) / secs),
		"dropped", drops.Total(), "skipped", drops.Skipped(), "lag", pr.p.Lag(),
		"in_total", s.DatapointsIn, "out_total", s.DatapointsOut, "dropped_total", s.Dropped.Total(),
		"raw_pool", fmt.Sprintf("%d/%d", raw, rawN), "shard_pool", fmt.Sprintf("%d/%d", sb, sbN),
		"gc_pause", time.Duration(ms.PauseTotalNs - pr.lastGCNs).String(), "heap_mib", ms.HeapInuse >> 20,
	}
	if f := pr.p.ShedFactors(); f[shed.Normal] < 1 || f[shed.BestEffort] < 1 {
		fields = append(fields, "shed_factor_normal", f[shed.Normal], "shed_factor_best_effort", f[shed.BestEffort])
	}
	if missing := pr.p.MissingTopics(); len(missing) > 0 {
		fields = append(fields, "missing_topics", strings.Join(missing, ","))
	}
	fields = append(fields, dropFields(drops)...)
	log.Info("progress", fields...)
	pr.last, pr.lastAt, pr.lastGCNs = s, now, ms.PauseTotalNs
}
