package rwclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/output"
)

// TestProbe: an endpoint answering 2xx is usable; a 401 or 404 (wrong credentials, wrong path)
// fails the start naming the endpoint and what to check; a 503 is a receiver that is there
// (degraded, not an error); an unreachable replica beside a usable one is degraded, and the probe
// carries the output's headers and the empty body it was given.
func TestProbe(t *testing.T) {
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer tok" || r.ContentLength != 1 {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ok, unauthorized, missing, busy := status(http.StatusNoContent), status(http.StatusUnauthorized), status(http.StatusNotFound), status(http.StatusServiceUnavailable)
	dead := func() string { // a port nobody listens on
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		return srv.URL
	}()
	empty := []byte{0}
	probe := func(urls ...string) error {
		c, _ := testClient(t, 0, urls...)
		return c.Probe(context.Background(), empty)
	}
	if err := probe(ok, ok); err != nil {
		t.Fatalf("two usable endpoints: %v", err)
	}
	for _, u := range []string{unauthorized, missing} {
		err := probe(ok, u)
		if err == nil || errors.As(err, new(*output.Degraded)) || !strings.Contains(err.Error(), u) ||
			!strings.Contains(err.Error(), "check the URL's path and the output's credentials") {
			t.Fatalf("an endpoint refusing the probe: %v", err)
		}
	}
	var d *output.Degraded
	if err := probe(busy); !errors.As(err, &d) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a receiver answering 503: %v", err)
	}
	// Each waits out ProbePatience: together.
	oneDead := make(chan error, 1)
	go func() { oneDead <- probe(ok, dead) }()
	if err := probe(dead); err == nil || errors.As(err, &d) || !strings.Contains(err.Error(), "no endpoint could be reached") {
		t.Fatalf("no reachable endpoint: %v", err)
	}
	if err := <-oneDead; !errors.As(err, &d) || !strings.Contains(err.Error(), dead) {
		t.Fatalf("one unreachable replica of two: %v", err)
	}
}
