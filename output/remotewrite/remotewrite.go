// Package remotewrite is the remote-write output: Prometheus remote write 1.0 or 2.0 over HTTP
// to the replicas of one receiver (rwclient: requests rotate over the healthy ones, each behind a
// circuit breaker). A flush's segments are merged so that each series appears once per request,
// its samples in timestamp order, within max_batch_samples and max_batch_bytes; each request is
// posted from a goroutine of its own, so that the pipeline's writer never blocks.
package remotewrite

import (
	"context"
	"errors"
	"time"

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
	return &Output{o: o, client: rwclient.New(o)}, nil
}

// Start returns the output's shards: its concurrency.
func (r *Output) Start(context.Context) (int, error) { return r.o.Concurrency, nil }

// Writer returns the sender of shards [lo, hi).
func (r *Output) Writer(lo, hi int, answer output.Answer) (output.Writer, error) {
	w := &Writer{client: r.client, cfg: r.o, retry: r.o.Retry, lo: lo, shards: make([]shard, hi-lo), answer: answer,
		v2: r.o.Protocol == config.ProtocolV2}
	for i := range w.shards {
		w.shards[i].avoid = -1
	}
	return w, nil
}

// Stop ends requests in flight and idle connections.
func (r *Output) Stop() error {
	r.client.Close()
	return nil
}

// Endpoints reports each endpoint's breaker and requests.
func (r *Output) Endpoints() []output.Endpoint {
	var out []output.Endpoint
	for _, e := range r.client.Endpoints() {
		ok, failed := e.Requests()
		out = append(out, output.Endpoint{URL: e.URL(), State: e.State(), OK: ok, Failed: failed, Opens: e.Opens()})
	}
	return out
}

// Writer is one pipeline writer's sender. It keeps, per shard, the endpoint the part's last
// attempt failed on, so the retry goes to another replica.
type Writer struct {
	client *rwclient.Client
	cfg    *config.Output
	retry  *config.Retry
	lo     int
	shards []shard
	answer output.Answer
	merger rw.Merger
	v2     bool
	enc    rw.V2Encoder
	v2buf  []byte
	parts  *output.Parts // the flush being built
}

// shard is a shard's retry state: avoid is the endpoint the part's last attempt failed on (-1:
// none); fast counts the immediate retries on other endpoints since the last backoff.
type shard struct{ avoid, fast int }

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

// Send posts the request from a goroutine of its own; the answer carries the samples a 2.0
// receiver says it wrote.
func (w *Writer) Send(s int, part []byte, ref any) {
	avoid := w.shards[s-w.lo].avoid
	go func() {
		_, written, err := w.client.Send(part, avoid)
		w.answer(ref, written, err)
	}()
}

// Permanent: a 4xx other than 429, a bad URL.
func (w *Writer) Permanent(err error) bool {
	var re *rwclient.Error
	return errors.As(err, &re) && re.Permanent
}

func (w *Writer) NewPart(s int) { w.shards[s-w.lo] = shard{avoid: -1} }

// RetryDelay: not at all when another endpoint can take the part at once (one bad replica costs
// no backoff); until the first breaker admits a probe when all are open; else the receiver's
// Retry-After, or exponential backoff with full jitter; at most max_backoff.
func (w *Writer) RetryDelay(s int, err error, attempt int) time.Duration {
	st, c := &w.shards[s-w.lo], w.retry
	var re *rwclient.Error
	switch {
	case errors.Is(err, rwclient.ErrAllOpen):
		st.avoid, st.fast = -1, 0
		until := time.Until(w.client.OpenUntil())
		return min(max(until, c.MinBackoff), c.MaxBackoff)
	case errors.As(err, &re):
		st.avoid = re.Endpoint
		if re.RetryAfter > 0 {
			st.fast = 0
			return min(re.RetryAfter, c.MaxBackoff)
		}
		if n := len(w.client.Endpoints()); st.fast < n-1 && w.client.Healthy() > 0 {
			st.fast++
			return 0
		}
		st.fast = 0
	}
	return output.Backoff(c.MinBackoff, c.MaxBackoff, attempt)
}

// Avoid is the endpoint shard s's next attempt avoids (-1: none), for tests.
func (w *Writer) Avoid(s int) int { return w.shards[s-w.lo].avoid }
