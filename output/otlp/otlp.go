// Package otlp is the OTLP output: OTLP/HTTP protobuf metrics (POST <url> with an
// ExportMetricsServiceRequest, gzip-compressed), as the OpenTelemetry Collector's otlphttp
// exporter sends them, to the replicas of one receiver: a Collector, Prometheus 3's
// /api/v1/otlp/v1/metrics, or any OTLP backend. Requests go through the same client as remote
// write (rwclient: rotation over healthy endpoints, circuit breakers, Retry-After), built the same
// way (each series once per request, within max_batch_samples and max_batch_bytes), each series a
// gauge (Encoder).
package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"

	"github.com/sluicehq/sluice/config"
	rw "github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/output"
	"github.com/sluicehq/sluice/rwclient"
)

// Output is one `output "otlp"` block.
type Output struct {
	o      *config.Output
	client *rwclient.Client
}

// Headers are OTLP/HTTP's request headers for binary protobuf, gzip-compressed.
func Headers() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/x-protobuf")
	h.Set("Content-Encoding", "gzip")
	return h
}

// New returns the output of block o.
func New(_ *config.Config, o *config.Output) (output.Output, error) {
	return &Output{o: o, client: rwclient.New(o, Headers())}, nil
}

// Start probes the endpoints with an empty request (unless probe_at_start = false) and returns
// the output's shards: its concurrency.
func (r *Output) Start(ctx context.Context) (int, error) {
	if r.o.ProbeAtStart {
		// An ExportMetricsServiceRequest without resource metrics: zero bytes of protobuf, gzipped.
		var empty bytes.Buffer
		zw := gzip.NewWriter(&empty)
		_ = zw.Close()
		if err := r.client.Probe(ctx, empty.Bytes()); err != nil {
			return r.o.Concurrency, err
		}
	}
	return r.o.Concurrency, nil
}

// Writer returns the sender of shards [lo, hi).
func (r *Output) Writer(lo, hi int, answer output.Answer) (output.Writer, error) {
	w := &writer{Sender: r.client.NewSender(r.o.Retry, lo, hi, answer), cfg: r.o}
	w.zip, _ = gzip.NewWriterLevel(&w.zipped, gzip.BestSpeed)
	return w, nil
}

// Stop ends requests in flight and idle connections.
func (r *Output) Stop() error {
	r.client.Close()
	return nil
}

// Endpoints reports each endpoint's breaker and requests.
func (r *Output) Endpoints() []output.Endpoint { return r.client.Report() }

// writer is one pipeline writer's sender: rwclient's Sender (a goroutine per request, retries
// to another replica, breakers, Retry-After; 5xx are retried as for remote write, where OTLP/HTTP
// names only 502, 503 and 504: giving up would lose data) with the OTLP requests.
type writer struct {
	*rwclient.Sender
	cfg    *config.Output
	merger rw.Merger
	enc    Encoder
	req    []byte
	zipped bytes.Buffer
	zip    *gzip.Writer
	parts  *output.Parts
}

// Build merges the shard's segments into requests, each series once with its samples in
// timestamp order, and encodes each as a gzip-compressed ExportMetricsServiceRequest.
func (w *writer) Build(_ int, segs output.Segments, parts *output.Parts) {
	segs.Each(func(data []byte, _ int) {
		if !w.merger.Add(data) {
			panic("output/otlp: a worker encoded a malformed segment") // a bug, not bad input
		}
	})
	if w.merger.Series() == 0 {
		return
	}
	w.parts = parts
	w.merger.Build(w.cfg.MaxBatchSamples, w.cfg.MaxBatchBytes, w.add)
	w.parts = nil
}

func (w *writer) add(req []byte, samples int) {
	out, _, ok := w.enc.Encode(w.req[:0], req)
	if !ok {
		panic("output/otlp: a worker encoded a malformed segment") // a bug, not bad input
	}
	w.req = out
	w.zipped.Reset()
	w.zip.Reset(&w.zipped)
	_, _ = w.zip.Write(out) // a bytes.Buffer does not fail
	_ = w.zip.Close()
	w.parts.Add(append(w.parts.Next(), w.zipped.Bytes()...), samples)
}

func (w *writer) DeadLetterSource() string { return "otlp:" + w.cfg.Name }
