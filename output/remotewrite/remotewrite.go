// Package remotewrite is the remote-write output: Prometheus remote write 1.0 or 2.0 over HTTP
// to the replicas of one receiver (rwclient: requests rotate over the healthy ones, each behind a
// circuit breaker). A flush's segments are merged so that each series appears once per request,
// its samples in timestamp order, within max_batch_samples and max_batch_bytes; each request is
// posted from a goroutine of its own, so that the pipeline's writer never blocks.
package remotewrite

import (
	"context"

	"github.com/sluicehq/sluice/config"
	rw "github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/output"
	"github.com/sluicehq/sluice/rwclient"
)

// Output is one `output "remote_write"` block.
type Output struct {
	o      *config.Output
	client *rwclient.Client
}

// New returns the output of block o.
func New(_ *config.Config, o *config.Output) (output.Output, error) {
	return &Output{o: o, client: rwclient.New(o, rwclient.RemoteWriteHeaders(o.Protocol))}, nil
}

// Start probes the endpoints with an empty request (unless probe_at_start = false) and returns
// the output's shards: its concurrency.
func (r *Output) Start(ctx context.Context) (int, error) {
	if r.o.ProbeAtStart {
		// An empty WriteRequest (1.0) or Request (2.0) is zero bytes of protobuf, snappy-compressed.
		if err := r.client.Probe(ctx, rw.Compress(nil, nil)); err != nil {
			return r.o.Concurrency, err
		}
	}
	return r.o.Concurrency, nil
}

// Writer returns the sender of shards [lo, hi).
func (r *Output) Writer(lo, hi int, answer output.Answer) (output.Writer, error) {
	return &Writer{Sender: r.client.NewSender(r.o.Retry, lo, hi, answer), cfg: r.o, v2: r.o.Protocol == config.ProtocolV2}, nil
}

// Stop ends requests in flight and idle connections.
func (r *Output) Stop() error {
	r.client.Close()
	return nil
}

// Endpoints reports each endpoint's breaker and requests.
func (r *Output) Endpoints() []output.Endpoint { return r.client.Report() }

// Writer is one pipeline writer's sender: rwclient's Sender (a goroutine per request, each shard's
// retry going to another replica than the one that failed) with the remote-write requests.
type Writer struct {
	*rwclient.Sender
	cfg    *config.Output
	merger rw.Merger
	v2     bool
	enc    rw.V2Encoder
	v2buf  []byte
	parts  *output.Parts // the flush being built
}

// Build merges the shard's segments into requests in which each series appears once, its samples
// in timestamp order, within max_batch_samples and max_batch_bytes; with protocol 2.0 each is
// transcoded to an io.prometheus.write.v2.Request. Requests are snappy-compressed.
func (w *Writer) Build(_ int, segs output.Segments, parts *output.Parts) {
	segs.Each(func(data []byte, _ int) {
		if !w.merger.Add(data) {
			panic("output/remotewrite: a worker encoded a malformed segment") // a bug, not bad input
		}
	})
	if w.merger.Series() == 0 {
		return
	}
	w.parts = parts
	w.merger.Build(w.cfg.MaxBatchSamples, w.cfg.MaxBatchBytes, w.add)
	w.parts = nil
}

func (w *Writer) add(req []byte, samples int) {
	if w.v2 {
		out, ok := w.enc.Transcode(w.v2buf[:0], req)
		if !ok {
			panic("output/remotewrite: a worker encoded a malformed segment") // a bug, not bad input
		}
		w.v2buf, req = out, out
	}
	w.parts.Add(rw.Compress(w.parts.Next(), req), samples)
}

func (w *Writer) DeadLetterSource() string { return "remote_write:" + w.cfg.Name }
