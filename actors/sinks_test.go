package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/rwclient"
)

// TestRWSinkRetryDelay: one bad replica costs no backoff (the retry goes at once to another
// endpoint, avoiding the one that failed), but only n-1 times in a row; a Retry-After is
// honoured up to max_backoff; with every breaker open the part waits at least min_backoff; a new
// part starts with no endpoint to avoid.
func TestRWSinkRetryDelay(t *testing.T) {
	retry := &config.Retry{MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
	cfg := &config.Output{Name: "rw", URLs: []string{"http://127.0.0.1:1/a", "http://127.0.0.1:1/b"}, Concurrency: 1,
		Timeout: time.Second, Breaker: &config.Breaker{Failures: 5, CoolDown: time.Second}, Retry: retry}
	client := rwclient.New(cfg)
	defer client.Close()
	r := newRWSink(&outputPlan{cfg: cfg, rw: client}, 10, 12)
	const s = 11
	if r.shards[s-10].avoid != -1 {
		t.Fatalf("a new sink avoids endpoint %d", r.shards[s-10].avoid)
	}
	if d := r.retryDelay(s, &rwclient.Error{Endpoint: 0}, 1); d != 0 || r.shards[s-10].avoid != 0 {
		t.Fatalf("first failure on endpoint 0: delay %v, avoid %d; want 0 and 0", d, r.shards[s-10].avoid)
	}
	if d := r.retryDelay(s, &rwclient.Error{Endpoint: 1}, 2); d <= 0 || d > retry.MaxBackoff || r.shards[s-10].avoid != 1 {
		t.Fatalf("second failure in a row: delay %v, avoid %d; want a backoff and 1", d, r.shards[s-10].avoid)
	}
	if d := r.retryDelay(s, &rwclient.Error{Endpoint: 0, RetryAfter: 3 * time.Second}, 3); d != 3*time.Second {
		t.Fatalf("Retry-After 3s: delay %v", d)
	}
	if d := r.retryDelay(s, &rwclient.Error{Endpoint: 0, RetryAfter: time.Minute}, 4); d != retry.MaxBackoff {
		t.Fatalf("Retry-After 1m: delay %v, want max_backoff %v", d, retry.MaxBackoff)
	}
	if d := r.retryDelay(s, fmt.Errorf("wrapped: %w", rwclient.ErrAllOpen), 5); d < retry.MinBackoff || r.shards[s-10].avoid != -1 {
		t.Fatalf("every breaker open: delay %v, avoid %d; want ≥ %v and -1", d, r.shards[s-10].avoid, retry.MinBackoff)
	}
	r.retryDelay(s, &rwclient.Error{Endpoint: 1}, 6)
	r.newPart(s)
	if st := r.shards[s-10]; st.avoid != -1 || st.fast != 0 {
		t.Fatalf("a new part inherits retry state %+v", st)
	}
	if !r.permanent(&rwclient.Error{Permanent: true}) || r.permanent(&rwclient.Error{}) || r.permanent(rwclient.ErrAllOpen) {
		t.Fatal("permanent misclassifies")
	}
}

func TestJitterBackoff(t *testing.T) {
	for attempt := 1; attempt < 40; attempt++ {
		hi := min(100*time.Millisecond<<min(attempt-1, 20), 10*time.Second)
		for i := 0; i < 50; i++ {
			if b := jitterBackoff(100*time.Millisecond, 10*time.Second, attempt); b < time.Millisecond || b > hi {
				t.Fatalf("attempt %d: %v outside [1ms, %v]", attempt, b, hi)
			}
		}
	}
}
