package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/sluicetest"
)

// receiver is a real remote-write receiver (Debian's victoria-metrics or prometheus) running on
// loopback with a temporary data directory.
type receiver struct {
	name    string
	base    string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	exited  <-chan struct{} // closed once cmd has exited
	dataDir string
	log     *os.File
	args    func(addr string) []string
}

// needBinary skips the test when a receiver is not installed; CI installs them.
func needBinary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install -y %s); .ci/run installs it", name, name)
	}
	return path
}

// startVictoriaMetrics runs a single-node VictoriaMetrics.
func startVictoriaMetrics(t testing.TB, name string) *receiver {
	t.Helper()
	bin := needBinary(t, "victoria-metrics")
	dir := t.TempDir()
	r := &receiver{name: name, dataDir: dir, args: func(addr string) []string {
		return []string{bin, "-storageDataPath=" + dir, "-httpListenAddr=" + addr, "-search.latencyOffset=0s",
			"-search.disableCache", "-loggerLevel=WARN"}
	}}
	r.start(t, "/health")
	return r
}

// startPrometheus runs Prometheus with its remote-write receiver and an out-of-order window, so
// that samples a little older than the newest of their series are accepted across requests.
func startPrometheus(t testing.TB) *receiver {
	t.Helper()
	bin := needBinary(t, "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\nstorage:\n  tsdb:\n    out_of_order_time_window: 2h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &receiver{name: "prometheus", dataDir: dir, args: func(addr string) []string {
		return []string{bin, "--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr, "--web.enable-remote-write-receiver", "--log.level=warn"}
	}}
	r.start(t, "/-/ready")
	return r
}

// prometheus3 is the path of a Prometheus 3 binary (remote write 2.0 needs one; Debian's is 2.x):
// $SLUICE_PROMETHEUS3, or prometheus3 on the PATH. The test skips without one; .ci/run builds it
// from the Go module proxy.
func prometheus3(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SLUICE_PROMETHEUS3"); p != "" {
		return p
	}
	if p, err := exec.LookPath("prometheus3"); err == nil {
		return p
	}
	t.Skip("no Prometheus 3 binary: GOBIN=/some/dir go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0, " +
		"then SLUICE_PROMETHEUS3=/some/dir/prometheus (.ci/run does this)")
	return ""
}

// startPrometheus3 runs Prometheus 3 with its remote-write receiver accepting 1.0 and 2.0
// messages.
func startPrometheus3(t testing.TB) *receiver {
	t.Helper()
	bin := prometheus3(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\nstorage:\n  tsdb:\n    out_of_order_time_window: 2h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &receiver{name: "prometheus3", dataDir: dir, args: func(addr string) []string {
		return []string{bin, "--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr, "--web.enable-remote-write-receiver",
			"--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest",
			"--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request", "--log.level=warn",
			// Series whose 2.0 metadata has a type or unit get __type__ and __unit__ labels from
			// it, so a query shows what metadata arrived.
			"--enable-feature=type-and-unit-labels"}
	}}
	r.start(t, "/-/ready")
	return r
}

// start runs the receiver on a free port and waits until ready answers 200. A receiver that
// exits before it is ready (another process may have taken the free port between FreeAddr and
// its bind while the machine is busy) is started again on another port, twice at most; one that
// neither exits nor answers within a minute fails the test with its log.
func (r *receiver) start(t testing.TB, ready string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		exited := r.startOnce(t)
		ok, gone := r.waitReady(ready, exited, time.Minute)
		if ok {
			return
		}
		if !gone {
			t.Fatalf("%s not ready after a minute; its log:\n%s", r.name, r.logTail())
		}
		if attempt == 3 {
			t.Fatalf("%s exited before it was ready, %d times; its log:\n%s", r.name, attempt, r.logTail())
		}
		t.Logf("%s exited before it was ready; starting it again on another port; its log:\n%s", r.name, r.logTail())
	}
}

// startOnce starts the receiver's process on a free port; the channel closes when it exits.
func (r *receiver) startOnce(t testing.TB) <-chan struct{} {
	t.Helper()
	addr := sluicetest.FreeAddr(t)
	r.base = "http://" + addr
	args := r.args(addr)
	r.cmd = exec.Command(args[0], args[1:]...)
	log, err := os.CreateTemp(t.TempDir(), r.name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	r.log = log
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", r.name, err)
	}
	cmd, exited := r.cmd, make(chan struct{})
	r.exited = exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return exited
}

// waitReady polls ready until it answers 200 (ok), the process exits (gone) or timeout passes.
func (r *receiver) waitReady(ready string, exited <-chan struct{}, timeout time.Duration) (ok, gone bool) {
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(r.base + ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, false
			}
		}
		select {
		case <-exited:
			return false, true
		case <-deadline:
			return false, false
		case <-tick.C:
		}
	}
}

// stop ends the receiver gracefully (it flushes what it acknowledged), as a replica that goes
// away does.
func (r *receiver) stop(t testing.TB) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// writeURL is the receiver's remote-write endpoint.
func (r *receiver) writeURL() string { return r.base + "/api/v1/write" }

// logTail is the end of the receiver's log, for failure messages.
func (r *receiver) logTail() string {
	b, _ := os.ReadFile(r.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// series is one exported series: labels (with __name__) → its samples by timestamp.
type exported map[string]map[int64]float64

// seriesKey is a canonical form of a label set.
func seriesKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s,", k, labels[k])
	}
	return b.String()
}

// exportVM reads every sample of the series matching match from VictoriaMetrics.
func (r *receiver) exportVM(t testing.TB, match string) exported {
	t.Helper()
	if resp, err := http.Get(r.base + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get(r.base + "/api/v1/export?match[]=" + url.QueryEscape(match))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("export: %s: %s", resp.Status, b)
	}
	out := exported{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var line struct {
			Metric     map[string]string `json:"metric"`
			Values     []float64         `json:"values"`
			Timestamps []int64           `json:"timestamps"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		k := seriesKey(line.Metric)
		if out[k] == nil {
			out[k] = map[int64]float64{}
		}
		for i, ts := range line.Timestamps {
			out[k][ts] = line.Values[i]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// samples counts an export's samples.
func (e exported) samples() int {
	n := 0
	for _, s := range e {
		n += len(s)
	}
	return n
}

// promQuery runs an instant PromQL query and returns the result's vector or matrix.
func (r *receiver) promQuery(t testing.TB, q string) []struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
	Values [][2]any          `json:"values"`
} {
	t.Helper()
	resp, err := http.Get(r.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	if body.Status != "success" {
		t.Fatalf("query %s: %s", q, body.Error)
	}
	return body.Data.Result
}
