// Package rwclient is the HTTP client of one HTTP output (remote write 1.0 or 2.0, OTLP): requests
// rotate over the output's endpoints (replicas of one receiver), each behind a circuit breaker,
// and every failure is classified as retryable or permanent with the receiver's Retry-After. The
// outputs output/remotewrite and output/otlp drive it.
package rwclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/output"
)

// Client sends one output's requests to its endpoints (replicas
// of one receiver). Requests rotate over the endpoints whose circuit breaker is closed; a retry
// avoids the endpoint that just failed. It is safe for concurrent use: writers call send from
// one goroutine per request in flight.
type Client struct {
	output    string
	http      *http.Client
	header    http.Header
	timeout   time.Duration
	endpoints []*Endpoint
	next      atomic.Uint32
	failures  int
	coolDown  time.Duration
	// lastFailure is the latest endpoint failure, which an ErrAllOpen carries.
	lastFailure atomic.Pointer[string]
	// ctx is cancelled when the pipeline stops, ending requests in flight.
	ctx    context.Context
	cancel context.CancelFunc
	now    func() time.Time
}

// Breaker states, as exported in sluice_output_endpoint_state.
const (
	BreakerClosed   = 0
	BreakerOpen     = 1
	BreakerHalfOpen = 2
)

// Endpoint is one URL with its circuit breaker: after failures consecutive failed requests it
// opens and gets no requests for the cool-down; then one probe request (half-open) closes it on
// success or opens it again.
type Endpoint struct {
	url   string
	shown string // url without secrets: URL()

	// state is written under mu and read without it (metrics, healthy).
	mu       sync.Mutex
	state    atomic.Int32
	failed   int // consecutive failures
	openedAt time.Time
	probing  bool

	ok, errs, opens atomic.Int64
}

// Error is a failed remote-write request.
type Error struct {
	Endpoint   int           // the endpoint it failed on
	Status     int           // the HTTP status; 0 for a network error
	Permanent  bool          // retrying cannot help (a 4xx other than 429, a bad URL)
	RetryAfter time.Duration // the receiver's Retry-After; 0 when it sent none
	msg        string
}

func (e *Error) Error() string { return e.msg }

// ErrAllOpen is returned when every endpoint's breaker is open.
var ErrAllOpen = errors.New("every endpoint's circuit breaker is open")

// New returns the client of output o, whose requests carry the protocol's headers (content type
// and encoding, version) after the block's own.
func New(o *config.Output, protocol http.Header) *Client {
	h := http.Header{}
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	for k, v := range protocol {
		h[k] = v
	}
	h.Set("User-Agent", "sluice")
	if a := o.BasicAuth; a != nil {
		req := http.Request{Header: http.Header{}}
		req.SetBasicAuth(a.Username, a.Password)
		h.Set("Authorization", req.Header.Get("Authorization"))
	}
	if o.BearerToken != "" {
		h.Set("Authorization", "Bearer "+o.BearerToken)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.Concurrency + 1
	tr.MaxConnsPerHost = 0
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{output: o.Name, http: &http.Client{Transport: tr}, header: h, timeout: o.Timeout,
		failures: o.Breaker.Failures, coolDown: o.Breaker.CoolDown, ctx: ctx, cancel: cancel, now: time.Now}
	for _, u := range o.URLs {
		c.endpoints = append(c.endpoints, &Endpoint{url: u, shown: Redacted(u)})
	}
	return c
}

// Close ends requests in flight and idle connections.
func (c *Client) Close() {
	c.cancel()
	c.http.CloseIdleConnections()
}

// pick chooses the next endpoint in rotation whose breaker lets a request through, skipping
// avoid (the endpoint that just failed) while another one can take the request. It reports -1
// when every breaker is open.
func (c *Client) pick(avoid int) int {
	n := len(c.endpoints)
	start := int(c.next.Add(1)-1) % n
	fallback := -1
	for i := 0; i < n; i++ {
		k := (start + i) % n
		if !c.endpoints[k].admit(c.now(), c.coolDown, k == avoid && n > 1) {
			continue
		}
		if k == avoid {
			fallback = k // admitted only as closed, claiming no probe
			continue
		}
		return k
	}
	return fallback
}

// admit reports whether the endpoint takes a request now: always when closed; when open, once
// the cool-down passed, as the single half-open probe. peek admits only a closed endpoint, as
// it may not be used.
func (e *Endpoint) admit(now time.Time, coolDown time.Duration, peek bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state.Load() {
	case BreakerClosed:
		return true
	case BreakerOpen:
		if now.Sub(e.openedAt) < coolDown || peek {
			return false
		}
		e.state.Store(BreakerHalfOpen)
		e.probing = true
		return true
	default: // half-open: one probe at a time
		if e.probing || peek {
			return false
		}
		e.probing = true
		return true
	}
}

// result records a request's outcome in the breaker. Only failures of the endpoint count
// (network errors, 5xx, 429): a 4xx is the request's fault.
func (e *Endpoint) result(now time.Time, failed bool, threshold int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.probing = false
	if !failed {
		e.ok.Add(1)
		e.failed = 0
		e.state.Store(BreakerClosed)
		return
	}
	e.errs.Add(1)
	e.failed++
	if st := e.state.Load(); st == BreakerHalfOpen || (st == BreakerClosed && e.failed >= threshold) {
		e.state.Store(BreakerOpen)
		e.openedAt = now
		e.opens.Add(1)
	}
}

// OpenUntil is the earliest time an open endpoint admits a probe.
func (c *Client) OpenUntil() time.Time {
	var first time.Time
	for _, e := range c.endpoints {
		e.mu.Lock()
		if t := e.openedAt.Add(c.coolDown); e.state.Load() == BreakerOpen && (first.IsZero() || t.Before(first)) {
			first = t
		}
		e.mu.Unlock()
	}
	return first
}

// Healthy counts the endpoints whose breaker is closed.
func (c *Client) Healthy() int {
	n := 0
	for _, e := range c.endpoints {
		if e.state.Load() == BreakerClosed {
			n++
		}
	}
	return n
}

// Send posts one snappy-compressed request, avoiding endpoint avoid when another can take it.
// It returns the endpoint used (-1 if none), how many samples and histograms the receiver says it
// wrote (remote write 2.0's X-Prometheus-Remote-Write-Samples-Written and -Histograms-Written
// response headers; -1 when it does not say)
// and nil, or an *Error (or ErrAllOpen).
func (c *Client) Send(body []byte, avoid int) (endpoint int, written int64, err error) {
	k := c.pick(avoid)
	if k < 0 {
		if last := c.lastFailure.Load(); last != nil {
			return -1, -1, fmt.Errorf("%w; the last failure: %s", ErrAllOpen, *last)
		}
		return -1, -1, ErrAllOpen
	}
	e := c.endpoints[k]
	written, err = c.post(c.ctx, e.url, body)
	var re *Error
	failed := err != nil && (!errors.As(err, &re) || !re.Permanent)
	e.result(c.now(), failed, c.failures)
	if err != nil {
		if re == nil {
			re = &Error{msg: err.Error()}
		}
		re.Endpoint = k
		if failed {
			c.lastFailure.Store(&re.msg)
		}
		return k, -1, re
	}
	return k, written, nil
}

// post sends body to url within ctx (the client's, or the start-up probe's) and classifies the
// answer; on a 2xx it returns the samples the receiver says it wrote (-1: it does not say).
func (c *Client) post(ctx context.Context, url string, body []byte) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return -1, &Error{Permanent: true, msg: err.Error()}
	}
	req.Header = c.header.Clone()
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err // not the method and URL again
		}
		return -1, &Error{msg: fmt.Sprintf("POST %s: %v", Redacted(url), err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
		// Samples and native histograms, each counted in its own header.
		written := int64(-1)
		for _, h := range [...]string{"X-Prometheus-Remote-Write-Samples-Written", "X-Prometheus-Remote-Write-Histograms-Written"} {
			if v := resp.Header.Get(h); v != "" {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
					written = max(written, 0) + n
				}
			}
		}
		return written, nil
	}
	line := firstLine(resp.Body)
	e := &Error{Status: resp.StatusCode,
		msg: fmt.Sprintf("POST %s: %s: %s", Redacted(url), resp.Status, line)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	case resp.StatusCode >= 400:
		e.Permanent = true
		e.msg = fmt.Sprintf("%s %s", resp.Status, line)
	default: // 1xx, 3xx: the URL is wrong; retrying will not help
		e.Permanent = true
	}
	return -1, e
}

// firstLine reads the first line of a response body (at most 512 bytes) and drains the rest.
func firstLine(r io.Reader) string {
	br := bufio.NewReaderSize(io.LimitReader(r, 512), 512)
	line, _ := br.ReadString('\n')
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	line = strings.TrimSpace(line)
	if line == "" {
		return "(empty body)"
	}
	return line
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date. 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Endpoints returns the client's endpoints, in the order of the output's urls.
func (c *Client) Endpoints() []*Endpoint { return c.endpoints }

// URL is the endpoint's URL as metrics, logs and the status page show it: without its password
// or query values (see Redacted).
func (e *Endpoint) URL() string { return e.shown }

// Redacted is u without what may be a secret: the password of its user info and the values of
// its query parameters become "xxxxx" (the user name, scheme, host and path stay, so endpoints
// stay told apart). An unparsable u is shown as a placeholder.
func Redacted(u string) string {
	p, err := neturl.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	if q := p.Query(); len(q) > 0 {
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		p.RawQuery = q.Encode()
	}
	return p.Redacted()
}

// State is the endpoint's breaker state: BreakerClosed, BreakerOpen or BreakerHalfOpen.
func (e *Endpoint) State() int32 { return e.state.Load() }

// Requests returns the requests the endpoint answered well (2xx, or a 4xx: the request's
// fault) and those that failed on it (network errors, 5xx, 429).
func (e *Endpoint) Requests() (ok, failed int64) { return e.ok.Load(), e.errs.Load() }

// Opens counts the times the endpoint's breaker opened.
func (e *Endpoint) Opens() int64 { return e.opens.Load() }

// RemoteWriteHeaders are the remote-write protocol's request headers: 1.0's, or 2.0's with its content type.
func RemoteWriteHeaders(protocol string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/x-protobuf")
	h.Set("Content-Encoding", "snappy")
	h.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if protocol == config.ProtocolV2 {
		h.Set("Content-Type", remotewrite.ContentTypeV2)
		h.Set("X-Prometheus-Remote-Write-Version", remotewrite.VersionV2)
	}
	return h
}

// Permanent reports whether retrying err cannot help: a 4xx other than 429, a bad URL.
func Permanent(err error) bool {
	var re *Error
	return errors.As(err, &re) && re.Permanent
}

// Retry is one shard's retry state against the client's endpoints: the endpoint its part's last
// attempt failed on (-1: none), and the immediate retries on other endpoints since the last
// backoff. The zero Retry is not ready: use Reset.
type Retry struct{ avoid, fast int }

// Reset readies the state for a part sent for the first time.
func (r *Retry) Reset() { *r = Retry{avoid: -1} }

// Avoid is the endpoint the next attempt avoids (-1: none).
func (r *Retry) Avoid() int { return r.avoid }

// RetryDelay is how long a part waits after its attempt-th failure, err: not at all when another
// endpoint can take it at once (one bad replica costs no backoff, but only n-1 times in a row);
// until the first breaker admits a probe when all are open; else the receiver's Retry-After, or
// an exponential backoff with full jitter; at most max_backoff.
func (c *Client) RetryDelay(r *Retry, cfg *config.Retry, err error, attempt int) time.Duration {
	var re *Error
	switch {
	case errors.Is(err, ErrAllOpen):
		r.avoid, r.fast = -1, 0
		return min(max(time.Until(c.OpenUntil()), cfg.MinBackoff), cfg.MaxBackoff)
	case errors.As(err, &re):
		r.avoid = re.Endpoint
		if re.RetryAfter > 0 {
			r.fast = 0
			return min(re.RetryAfter, cfg.MaxBackoff)
		}
		if n := len(c.endpoints); r.fast < n-1 && c.Healthy() > 0 {
			r.fast++
			return 0
		}
		r.fast = 0
	}
	return output.Backoff(cfg.MinBackoff, cfg.MaxBackoff, attempt)
}

// Report is each endpoint's breaker state and requests, for /metrics.
func (c *Client) Report() []output.Endpoint {
	out := make([]output.Endpoint, 0, len(c.endpoints))
	for _, e := range c.endpoints {
		ok, failed := e.Requests()
		out = append(out, output.Endpoint{URL: e.URL(), State: e.State(), OK: ok, Failed: failed, Opens: e.Opens()})
	}
	return out
}

// Sender sends one writer's parts from goroutines of their own and answers each through answer,
// with the samples the receiver says it wrote; each shard keeps its Retry.
type Sender struct {
	c      *Client
	cfg    *config.Retry
	lo     int
	shards []Retry
	answer output.Answer
}

// NewSender is the sender of shards [lo, hi).
func (c *Client) NewSender(cfg *config.Retry, lo, hi int, answer output.Answer) *Sender {
	s := &Sender{c: c, cfg: cfg, lo: lo, shards: make([]Retry, hi-lo), answer: answer}
	for i := range s.shards {
		s.shards[i].Reset()
	}
	return s
}

// Send posts part for shard from a goroutine of its own; the part is not touched after the answer.
func (s *Sender) Send(shard int, part []byte, ref any) {
	avoid := s.shards[shard-s.lo].avoid
	go func() {
		_, written, err := s.c.Send(part, avoid)
		s.answer(ref, written, err)
	}()
}

// Permanent reports whether retrying err cannot help.
func (s *Sender) Permanent(err error) bool { return Permanent(err) }

// NewPart resets shard's retry state.
func (s *Sender) NewPart(shard int) { s.shards[shard-s.lo].Reset() }

// RetryDelay is Client.RetryDelay with the shard's state.
func (s *Sender) RetryDelay(shard int, err error, attempt int) time.Duration {
	return s.c.RetryDelay(&s.shards[shard-s.lo], s.cfg, err, attempt)
}

// Avoid is the endpoint shard's next attempt avoids (-1: none).
func (s *Sender) Avoid(shard int) int { return s.shards[shard-s.lo].avoid }
