package remotewrite

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/rwclient"
)

// TestRetryDelay: one bad replica costs no backoff (the retry goes at once to another
// endpoint, avoiding the one that failed), but only n-1 times in a row; a Retry-After is
// honoured up to max_backoff; with every breaker open the part waits at least min_backoff; a new
// part starts with no endpoint to avoid.
func TestRetryDelay(t *testing.T) {
	retry := &config.Retry{MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
	cfg := &config.Output{Name: "rw", URLs: []string{"http://127.0.0.1:1/a", "http://127.0.0.1:1/b"}, Concurrency: 1,
		Timeout: time.Second, Breaker: &config.Breaker{Failures: 5, CoolDown: time.Second}, Retry: retry}
	out, _ := New(nil, cfg)
	defer out.Stop()
	ow, _ := out.Writer(10, 12, func(any, int64, error) {})
	r := ow.(*Writer)
	const s = 11
	if r.Avoid(s) != -1 {
		t.Fatalf("a new writer avoids endpoint %d", r.Avoid(s))
	}
	if d := r.RetryDelay(s, &rwclient.Error{Endpoint: 0}, 1); d != 0 || r.Avoid(s) != 0 {
		t.Fatalf("first failure on endpoint 0: delay %v, avoid %d; want 0 and 0", d, r.Avoid(s))
	}
	if d := r.RetryDelay(s, &rwclient.Error{Endpoint: 1}, 2); d <= 0 || d > retry.MaxBackoff || r.Avoid(s) != 1 {
		t.Fatalf("second failure in a row: delay %v, avoid %d; want a backoff and 1", d, r.Avoid(s))
	}
	if d := r.RetryDelay(s, &rwclient.Error{Endpoint: 0, RetryAfter: 3 * time.Second}, 3); d != 3*time.Second {
		t.Fatalf("Retry-After 3s: delay %v", d)
	}
	if d := r.RetryDelay(s, &rwclient.Error{Endpoint: 0, RetryAfter: time.Minute}, 4); d != retry.MaxBackoff {
		t.Fatalf("Retry-After 1m: delay %v, want max_backoff %v", d, retry.MaxBackoff)
	}
	if d := r.RetryDelay(s, fmt.Errorf("wrapped: %w", rwclient.ErrAllOpen), 5); d < retry.MinBackoff || r.Avoid(s) != -1 {
		t.Fatalf("every breaker open: delay %v, avoid %d; want ≥ %v and -1", d, r.Avoid(s), retry.MinBackoff)
	}
	r.RetryDelay(s, &rwclient.Error{Endpoint: 1}, 6)
	r.NewPart(s)
	if r.Avoid(s) != -1 {
		t.Fatalf("a new part avoids endpoint %d", r.Avoid(s))
	}
	if !r.Permanent(&rwclient.Error{Permanent: true}) || r.Permanent(&rwclient.Error{}) || r.Permanent(rwclient.ErrAllOpen) {
		t.Fatal("permanent misclassifies")
	}
}
