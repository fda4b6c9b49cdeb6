package actors

import "time"

// Reconnects and dead-letter writes are retried, forever, after a backoff between these; outputs
// take theirs from their retry block.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)
