package rwclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/output"
)

// ProbePatience is how long Probe keeps trying an endpoint that cannot be reached (a receiver
// starting alongside Sluice) before it calls the endpoint unusable.
const ProbePatience = 10 * time.Second

// Probe checks at start that the output can be used, without writing data: it posts empty,
// the protocol's request holding no series, which a receiver answers without storing anything
// (VictoriaMetrics, Prometheus 2 and Prometheus 3 answer 2xx, as the integration tests that start
// through the probe show), to every endpoint.
//
//   - A 2xx: the endpoint is usable.
//   - A 429 or 5xx: the receiver is there but busy or failing; writes will retry (not an error).
//   - Another status (a wrong path, missing or wrong credentials): every write would be refused,
//     so the output cannot be used: an error naming the endpoint and the answer.
//   - A network error (nobody listening, an unknown host, no answer), after ProbePatience of
//     retries: the endpoint is unreachable.
//
// The output cannot be used when an endpoint refuses the probe or when no endpoint can be
// reached: the error says which and what to check. When only some replicas are unreachable it
// returns an *output.Degraded: their breakers will keep requests away from them.
func (c *Client) Probe(ctx context.Context, empty []byte) error {
	type result struct {
		url string
		err error
	}
	results := make(chan result, len(c.endpoints))
	ctx, cancel := context.WithTimeout(ctx, ProbePatience)
	defer cancel()
	for _, e := range c.endpoints {
		go func() { results <- result{e.shown, c.probe(ctx, e.url, empty)} }()
	}
	var unreachable, busy []string
	var refused error
	for range c.endpoints {
		r := <-results
		var re *Error
		switch {
		case r.err == nil:
		case errors.As(r.err, &re) && re.Permanent:
			refused = fmt.Errorf("%s answered the start probe (an empty request, which stores nothing) with %v: "+
				"check the URL's path and the output's credentials (basic_auth, bearer_token, headers); "+
				"probe_at_start = false skips this check", r.url, r.err)
		case errors.As(r.err, &re) && re.Status != 0:
			busy = append(busy, r.err.Error())
		default:
			unreachable = append(unreachable, r.err.Error())
		}
	}
	switch {
	case refused != nil:
		return refused
	case len(unreachable) == len(c.endpoints):
		return fmt.Errorf("no endpoint could be reached within %s: %s: check that the receiver runs at that address "+
			"and is reachable from here; probe_at_start = false skips this check", ProbePatience, strings.Join(unreachable, "; "))
	case len(unreachable) > 0 || len(busy) > 0:
		return &output.Degraded{Problems: append(unreachable, busy...)}
	}
	return nil
}

// probe posts empty to url until it gets an HTTP answer or ctx ends, and returns the last
// outcome.
func (c *Client) probe(ctx context.Context, url string, empty []byte) error {
	wait := 100 * time.Millisecond
	for {
		_, err := c.post(ctx, url, empty)
		var re *Error
		if err == nil || (errors.As(err, &re) && (re.Status != 0 || re.Permanent)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
			wait = min(2*wait, 2*time.Second)
		}
	}
}
