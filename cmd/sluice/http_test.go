package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthCommand(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(r.URL.Path + " says hello\n"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := mainErr(append([]string{"health"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, _ := run("-address", addr); code != exitOK || out != "/healthz says hello\n" {
		t.Fatalf("healthy: exit %d, stdout %q", code, out)
	}
	if code, out, _ := run("-address", addr, "-path", "/readyz"); code != exitOK || !strings.HasPrefix(out, "/readyz") {
		t.Fatalf("-path /readyz: exit %d, stdout %q", code, out)
	}
	status = http.StatusServiceUnavailable
	if code, _, errs := run("-address", addr); code != exitError || !strings.Contains(errs, "503") || !strings.Contains(errs, "says hello") {
		t.Fatalf("unhealthy: exit %d, stderr %q; want 1 with the status and the body", code, errs)
	}

	// Nothing listening: a fast, clear failure.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	start := time.Now()
	if code, _, errs := run("-address", closed); code != exitError || !strings.Contains(errs, "connection refused") {
		t.Fatalf("nothing listening: exit %d, stderr %q", code, errs)
	}
	// A listener that never answers: the timeout bounds the probe.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	if code, _, _ := run("-address", hang.Addr().String(), "-timeout", "300ms"); code != exitError {
		t.Fatalf("silent listener: exit %d, want 1", code)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("two failing probes took %s", d)
	}
}

// TestRunFailsOnTakenHTTPPort: a port that is taken stops start-up with exit 1 and says which,
// rather than running without metrics.
func TestRunFailsOnTakenHTTPPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	broker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	brokerAddr := broker.Addr().String()
	broker.Close()
	var out, errb bytes.Buffer
	code := mainErr([]string{"run", "-dev", "-dev-broker", brokerAddr, "-http", taken.Addr().String()}, &out, &errb)
	if code != exitError {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(out.String(), "cannot serve http") || !strings.Contains(out.String(), taken.Addr().String()) {
		t.Fatalf("log does not say the http address is taken:\n%s", out.String())
	}
}
