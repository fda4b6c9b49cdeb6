package rwclient

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

// testClient is a client for urls with a breaker that opens after 2 failures for coolDown, and a
// clock the test moves.
func testClient(t *testing.T, coolDown time.Duration, urls ...string) (*Client, *time.Time) {
	t.Helper()
	c := New(&config.Output{Name: "t", URLs: urls, Concurrency: 2, Timeout: 2 * time.Second,
		Headers: map[string]string{"X-Scope-OrgID": "team-a"}, BearerToken: "tok",
		Breaker: &config.Breaker{Failures: 2, CoolDown: coolDown}}, RemoteWriteHeaders("1.0"))
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	t.Cleanup(c.Close)
	return c, &now
}

// TestRWClientProtocol: the request carries remote write 1.0's headers, the configured ones and
// the credentials, and the body as given.
func TestRWClientProtocol(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, must(io.ReadAll(r.Body))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, _ := testClient(t, time.Second, srv.URL)
	if _, _, err := c.Send([]byte("payload"), -1); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
		"X-Prometheus-Remote-Write-Version": "0.1.0", "X-Scope-Orgid": "team-a", "Authorization": "Bearer tok"} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("%s: %q, want %q", h, v, want)
		}
	}
	if got.Method != http.MethodPost || string(body) != "payload" {
		t.Fatalf("%s with body %q", got.Method, body)
	}
}

// TestRWClientProtocol2: protocol 2.0 sends 2.0's content type and version, and reports the
// samples and histograms the receiver says it wrote (-1 when it does not say).
func TestRWClientProtocol2(t *testing.T) {
	var got atomic.Pointer[http.Request]
	var written, histograms atomic.Value
	written.Store("")
	histograms.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r)
		if v := written.Load().(string); v != "" {
			w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", v)
		}
		if v := histograms.Load().(string); v != "" {
			w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", v)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := New(&config.Output{Name: "t", URLs: []string{srv.URL}, Concurrency: 1, Timeout: 2 * time.Second, Protocol: "2.0",
		Breaker: &config.Breaker{Failures: 2, CoolDown: time.Second}}, RemoteWriteHeaders("2.0"))
	defer c.Close()
	if _, n, err := c.Send([]byte("x"), -1); err != nil || n != -1 {
		t.Fatalf("no header: written %d, %v; want -1", n, err)
	}
	r := got.Load()
	if ct, v := r.Header.Get("Content-Type"), r.Header.Get("X-Prometheus-Remote-Write-Version"); ct != "application/x-protobuf;proto=io.prometheus.write.v2.Request" || v != "2.0.0" {
		t.Fatalf("Content-Type %q, version %q", ct, v)
	}
	written.Store("7")
	if _, n, err := c.Send([]byte("x"), -1); err != nil || n != 7 {
		t.Fatalf("Samples-Written 7: written %d, %v", n, err)
	}
	histograms.Store("3")
	if _, n, err := c.Send([]byte("x"), -1); err != nil || n != 10 {
		t.Fatalf("Samples-Written 7, Histograms-Written 3: written %d, %v; want 10", n, err)
	}
	written.Store("")
	if _, n, err := c.Send([]byte("x"), -1); err != nil || n != 3 {
		t.Fatalf("Histograms-Written 3 alone: written %d, %v; want 3", n, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRWClientErrors: 4xx is permanent with the body's first line; 5xx and 429 are retryable,
// with Retry-After in seconds or as a date.
func TestRWClientErrors(t *testing.T) {
	var status atomic.Int32
	var retryAfter atomic.Value
	retryAfter.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ra := retryAfter.Load().(string); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "label name \"bad name\" is invalid\nsecond line\n")
	}))
	defer srv.Close()
	c, now := testClient(t, time.Second, srv.URL)
	c.failures = 100
	f := func(code int, ra string, permanent bool, wantRA time.Duration, wantMsg string) {
		t.Helper()
		status.Store(int32(code))
		retryAfter.Store(ra)
		_, _, err := c.Send(nil, -1)
		var re *Error
		if !errors.As(err, &re) {
			t.Fatalf("%d: %v", code, err)
		}
		if re.Permanent != permanent || re.RetryAfter != wantRA || re.Status != code || (wantMsg != "" && re.msg != wantMsg) {
			t.Fatalf("%d %q: %+v", code, ra, re)
		}
	}
	f(400, "", true, 0, `400 Bad Request label name "bad name" is invalid`)
	f(404, "", true, 0, "")
	f(500, "", false, 0, "")
	f(503, "7", false, 7*time.Second, "")
	f(429, now.Add(90*time.Second).UTC().Format(http.TimeFormat), false, 90*time.Second, "")
	f(429, "soon", false, 0, "")
}

// TestRWClientBreaker: an endpoint that fails twice opens and gets no requests; the other takes
// them; after the cool-down one probe goes to it, and its success closes it again. A retry
// avoids the endpoint that just failed.
func TestRWClientBreaker(t *testing.T) {
	var badUp atomic.Bool
	var badHits, goodHits atomic.Int64
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		badHits.Add(1)
		if !badUp.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer bad.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		goodHits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer good.Close()
	c, now := testClient(t, 10*time.Second, bad.URL, good.URL)
	// A retry after a failure on the bad endpoint goes to the good one.
	for i := 0; i < 4; i++ {
		k, _, err := c.Send(nil, -1)
		if err != nil {
			if k != 0 {
				t.Fatalf("failure from endpoint %d", k)
			}
			if k2, _, err := c.Send(nil, k); err != nil || k2 != 1 {
				t.Fatalf("retry went to %d: %v", k2, err)
			}
		}
	}
	if st := c.endpoints[0].state.Load(); st != BreakerOpen || c.endpoints[0].opens.Load() != 1 {
		t.Fatalf("bad endpoint's breaker %d after 2 failures, opened %d times", st, c.endpoints[0].opens.Load())
	}
	before := badHits.Load()
	for i := 0; i < 10; i++ {
		if k, _, err := c.Send(nil, -1); err != nil || k != 1 {
			t.Fatalf("request went to %d while the breaker is open: %v", k, err)
		}
	}
	if badHits.Load() != before || c.Healthy() != 1 {
		t.Fatalf("an open endpoint got %d requests", badHits.Load()-before)
	}
	// After the cool-down: one probe; it fails, so the breaker opens again at once.
	*now = now.Add(11 * time.Second)
	for i := 0; i < 4; i++ {
		c.Send(nil, -1)
	}
	if n := badHits.Load() - before; n != 1 || c.endpoints[0].opens.Load() != 2 {
		t.Fatalf("%d probes after the cool-down, breaker opened %d times; want 1 and 2", n, c.endpoints[0].opens.Load())
	}
	// The endpoint recovers: the next probe closes the breaker and rotation resumes.
	badUp.Store(true)
	*now = now.Add(11 * time.Second)
	for i := 0; i < 6; i++ {
		if _, _, err := c.Send(nil, -1); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.endpoints[0].state.Load(); st != BreakerClosed || badHits.Load()-before < 3 {
		t.Fatalf("recovered endpoint: breaker %d, %d requests", st, badHits.Load()-before)
	}
	// Both open: no request is sent.
	badUp.Store(false)
	good.Close()
	for i := 0; i < 6; i++ {
		c.Send(nil, -1)
	}
	if _, _, err := c.Send(nil, -1); !errors.Is(err, ErrAllOpen) || !strings.Contains(err.Error(), "the last failure: POST ") {
		t.Fatalf("with both breakers open: %v", err)
	}
	if until := c.OpenUntil(); !until.After(*now) {
		t.Fatalf("openUntil %v is not after now %v", until, *now)
	}
}

func TestRedacted(t *testing.T) {
	f := func(u, want string) {
		t.Helper()
		if got := Redacted(u); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", u, got, want)
		}
	}
	f("http://vm:8428/api/v1/write", "http://vm:8428/api/v1/write")
	f("https://user:s3cret@mimir.example/api/v1/push", "https://user:xxxxx@mimir.example/api/v1/push")
	f("https://mimir.example/api/v1/push?token=abc&tenant=t1", "https://mimir.example/api/v1/push?tenant=xxxxx&token=xxxxx")
	f("http://[::1", "(unparsable URL)")
}
