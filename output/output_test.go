package output

import (
	"testing"
	"time"
)

func TestJitterBackoff(t *testing.T) {
	for attempt := 1; attempt < 40; attempt++ {
		hi := min(100*time.Millisecond<<min(attempt-1, 20), 10*time.Second)
		for i := 0; i < 50; i++ {
			if b := Backoff(100*time.Millisecond, 10*time.Second, attempt); b < time.Millisecond || b > hi {
				t.Fatalf("attempt %d: %v outside [1ms, %v]", attempt, b, hi)
			}
		}
	}
}
