package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/status"
)

// httpServer serves the status page (/), its document (/api/v1/status), /metrics, /healthz,
// /readyz and, with http { pprof = true }, /debug/pprof/. It listens before the pipeline starts
// (a taken port fails start-up, not a scrape later) and answers 503 on the probes until the
// pipeline is running.
type httpServer struct {
	srv      *http.Server
	addr     net.Addr
	pipeline atomic.Pointer[actors.Pipeline]
	status   *status.Server
	done     chan struct{}
}

func startHTTP(cfg *config.Config, p *actors.Pipeline, log hclog.Logger, more ...prometheus.Collector) (*httpServer, error) {
	reg := prometheus.NewRegistry()
	if err := p.Register(reg); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	reg.MustRegister(
		// The CPU classes too: go_cpu_classes_gc_total_cpu_seconds_total over
		// process_cpu_seconds_total is the collector's share of the process's CPU.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC, collectors.MetricsMemory, collectors.MetricsScheduler,
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
	)
	reg.MustRegister(more...)
	h := &httpServer{done: make(chan struct{}), status: status.NewServer(reg, readVersion().version)}
	if il, ok := log.(hclog.InterceptLogger); ok {
		il.RegisterSink(h.status.Sink())
	}
	mux := http.NewServeMux()
	h.status.Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", h.probe((*actors.Pipeline).Health))
	mux.HandleFunc("GET /readyz", h.probe((*actors.Pipeline).Ready))
	if cfg.HTTP.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Address)
	if err != nil {
		return nil, fmt.Errorf("http.address %s: %w", cfg.HTTP.Address, err)
	}
	h.addr = ln.Addr()
	h.status.Start()
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server failed", "error", err)
		}
	}()
	log.Info("http listening", "address", h.addr.String(), "pprof", cfg.HTTP.Pprof)
	return h, nil
}

// running makes the probes and the status page report on p.
func (h *httpServer) running(p *actors.Pipeline) {
	h.pipeline.Store(p)
	h.status.Checks(p.Health, p.Ready)
}

func (h *httpServer) probe(check func(*actors.Pipeline) error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		p := h.pipeline.Load()
		err := errors.New("starting")
		if p != nil {
			err = check(p)
		}
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// close stops serving, waiting up to a second for scrapes in progress.
func (h *httpServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
	<-h.done
	h.status.Close()
}

// buildInfo is sluice_build_info: the module version and VCS revision this binary was built
// from, and its Go version.
func buildInfo() prometheus.Collector {
	v := readVersion()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_build_info", Help: "Always 1; the labels say what was built.",
		ConstLabels: prometheus.Labels{"version": v.version, "revision": v.revision, "goversion": v.goVersion}})
	g.Set(1)
	return g
}

// healthCmd probes a running sluice's /healthz: exit 0 when it answers 200 within the timeout,
// 1 otherwise. It is the container's health check, for an image that has no shell or curl.
func healthCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("health", stderr)
	addr := fs.String("address", "127.0.0.1:9464", "host:port of the process's http listener")
	path := fs.String("path", "/healthz", "the probe: /healthz (alive) or /readyz (ready)")
	timeout := fs.Duration("timeout", 1500*time.Millisecond, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get("http://" + *addr + *path)
	if err != nil {
		fmt.Fprintf(stderr, "sluice health: %v\n", err)
		return exitError
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "sluice health: %s %s: %s", *path, resp.Status, body)
		return exitError
	}
	fmt.Fprintf(stdout, "%s", body)
	return exitOK
}
