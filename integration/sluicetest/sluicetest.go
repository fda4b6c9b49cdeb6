// Package sluicetest runs the sluice binary in integration tests: it builds it once per test
// run, starts processes whose JSON log lines it collects, stops them with SIGTERM, and reads
// their /metrics. The integration packages (the pipeline's and the fleet's) share it.
package sluicetest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicehq/sluice/integration/kafkatest"
)

var builds sync.Map // build tags -> *build

type build struct {
	once sync.Once
	path string
	err  error
}

// Binary builds cmd/sluice once per test run (per set of build tags).
func Binary(t *testing.T, tags ...string) string {
	t.Helper()
	key := strings.Join(tags, ",")
	v, _ := builds.LoadOrStore(key, &build{})
	b := v.(*build)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "sluice")
		args := []string{"build", "-o", b.path}
		if key != "" {
			args = append(args, "-tags", key)
		}
		out, err := exec.Command("go", append(args, "github.com/sluicehq/sluice/cmd/sluice")...).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// FreeAddr returns a loopback address no one listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a running sluice whose JSON log lines are collected.
type Proc struct {
	Cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	done  chan struct{}
}

// Run starts the binary Binary builds with args.
func Run(t *testing.T, args ...string) *Proc {
	t.Helper()
	return Start(t, Binary(t), nil, args...)
}

// Start runs bin with extra environment variables env ("K=V").
func Start(t *testing.T, bin string, env []string, args ...string) *Proc {
	t.Helper()
	if len(args) > 0 && args[0] == "run" && !slices.Contains(args, "-http") {
		// Tests run side by side: the http listener takes any free port ("http listening" says which).
		args = append(args, "-http", "127.0.0.1:0")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("log line is not JSON (stdout is not a terminal): %q", sc.Text())
				continue
			}
			p.mu.Lock()
			p.lines = append(p.lines, m)
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

// Last returns the newest log line with message msg.
func (p *Proc) Last(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.lines) - 1; i >= 0; i-- {
		if p.lines[i]["@message"] == msg {
			return p.lines[i]
		}
	}
	return nil
}

// HTTPAddr waits for the process's "http listening" line and returns the address it names
// (run takes any free port in tests).
func (p *Proc) HTTPAddr(t *testing.T) string {
	t.Helper()
	var addr string
	kafkatest.WaitFor(t, 30*time.Second, "the http listener", func() bool {
		if l := p.Last("http listening"); l != nil {
			addr, _ = l["address"].(string)
		}
		return addr != ""
	})
	return addr
}

// Stop sends SIGTERM and returns the exit code and the final log line.
func (p *Proc) Stop(t *testing.T) (int, map[string]any) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("sluice did not exit within 30 s of SIGTERM")
	}
	p.Cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		t.Fatal("sluice logged nothing")
	}
	return p.Cmd.ProcessState.ExitCode(), p.lines[len(p.lines)-1]
}

// Num reads a log line's numeric field k (0 when it is missing).
func Num(m map[string]any, k string) int64 {
	f, _ := m[k].(float64)
	return int64(f)
}

// Scrape reads /metrics and parses it as Prometheus' own text parser does.
func Scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// Sum adds a family's samples whose labels include want.
func Sum(f *dto.MetricFamily, want map[string]string) float64 {
	var total float64
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// WriteConfig writes src as a config file in a new temporary directory and returns its path.
func WriteConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Done is closed when the process's standard output ends (it exited).
func (p *Proc) Done() <-chan struct{} { return p.done }

// Lines returns the process's log lines with message msg.
func (p *Proc) Lines(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l["@message"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// Count returns how many of the process's log lines have message msg.
func (p *Proc) Count(msg string) int { return len(p.Lines(msg)) }

// Logs returns the process's log lines so far.
func (p *Proc) Logs() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}
