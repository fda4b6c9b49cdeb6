package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
)

var builds sync.Map // build tags -> *build

type build struct {
	once sync.Once
	path string
	err  error
}

// sluiceBinary builds cmd/sluice once per test run (per set of build tags).
func sluiceBinary(t *testing.T, tags ...string) string {
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
		out, err := exec.Command("go", append(args, "../cmd/sluice")...).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running sluice whose JSON log lines are collected.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	done  chan struct{}
}

func startSluice(t *testing.T, args ...string) *proc {
	t.Helper()
	return startBinary(t, sluiceBinary(t), nil, args...)
}

// startBinary runs bin with extra environment variables env ("K=V").
func startBinary(t *testing.T, bin string, env []string, args ...string) *proc {
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
	p := &proc{cmd: cmd, done: make(chan struct{})}
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

// last returns the newest log line with message msg.
func (p *proc) last(msg string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.lines) - 1; i >= 0; i-- {
		if p.lines[i]["@message"] == msg {
			return p.lines[i]
		}
	}
	return nil
}

// httpAddr waits for the process's "http listening" line and returns the address it names
// (run takes any free port in tests).
func (p *proc) httpAddr(t *testing.T) string {
	t.Helper()
	var addr string
	kafkatest.WaitFor(t, 30*time.Second, "the http listener", func() bool {
		if l := p.last("http listening"); l != nil {
			addr, _ = l["address"].(string)
		}
		return addr != ""
	})
	return addr
}

// stop sends SIGTERM and returns the exit code and the final log line.
func (p *proc) stop(t *testing.T) (int, map[string]any) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("sluice did not exit within 30 s of SIGTERM")
	}
	p.cmd.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		t.Fatal("sluice logged nothing")
	}
	return p.cmd.ProcessState.ExitCode(), p.lines[len(p.lines)-1]
}

func num(m map[string]any, k string) int64 {
	f, _ := m[k].(float64)
	return int64(f)
}

// TestDevModeRunsAndStopsOnSIGTERM runs `sluice run -dev` with its generator, waits for datapoints
// to flow, sends SIGTERM and expects exit 0 with the summary as the last line.
func TestDevModeRunsAndStopsOnSIGTERM(t *testing.T) {
	p := startSluice(t, "run", "-dev", "-dev-broker", freeAddr(t), "-dev-rate", "20000", "-progress", "500ms")
	deadline := time.Now().Add(45 * time.Second)
	for {
		if pr := p.last("progress"); pr != nil && num(pr, "out_total") > 10000 {
			for _, k := range []string{"in_dp_per_s", "out_dp_per_s", "lag", "raw_pool", "shard_pool", "gc_pause"} {
				if _, ok := pr[k]; !ok {
					t.Fatalf("progress line lacks %s: %v", k, pr)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no datapoints reached the output within 45 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, last := p.stop(t)
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if last["@message"] != "sluice stopped" || last["drained"] != true {
		t.Fatalf("last line is not a drained summary: %v", last)
	}
	in, out, dropped := num(last, "datapoints_in"), num(last, "datapoints_out"), num(last, "dropped")
	if in == 0 || in != out+dropped {
		t.Fatalf("summary: datapoints_in %d != datapoints_out %d + dropped %d", in, out, dropped)
	}
	for _, k := range []string{"routing_changes", "hot_partitions"} {
		if _, ok := last[k].(float64); !ok {
			t.Errorf("summary lacks the coordinator's %s: %v", k, last)
		}
	}
}

// TestDevModeWithKcat produces into the embedded broker with kcat (librdkafka, an independent
// client), checks what the pipeline counted, and reads the shard topic back with kcat.
func TestDevModeWithKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed (apt-get install kcat); CI installs it")
	}
	addr := freeAddr(t)
	p := startSluice(t, "run", "-dev", "-dev-broker", addr, "-progress", "200ms")
	waitLog := func(msg string) {
		deadline := time.Now().Add(30 * time.Second)
		for p.last(msg) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no %q log line within 30 s", msg)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitLog("partitions assigned")
	var in strings.Builder
	now := time.Now().Unix()
	const lines, bad = 1000, 10
	for i := 0; i < lines; i++ {
		if i%(lines/bad) == 0 {
			in.WriteString("put not.enough.fields\n")
			continue
		}
		fmt.Fprintf(&in, "put kcat.metric%d %d %d host=h%d\n", i%5, now, i, i%11)
	}
	cmd := exec.Command(kcat, "-P", "-b", addr, "-t", "metrics.opentsdb")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pr := p.last("progress"); pr != nil && num(pr, "out_total")+num(pr, "dropped_total") >= lines {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline did not process %d lines within 30 s: %v", lines, p.last("progress"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := exec.Command(kcat, "-C", "-b", addr, "-t", "metrics.shards", "-e", "-q", "-f", "%p %k\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	records := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		part, key, _ := strings.Cut(l, " ")
		if _, err := strconv.Atoi(part); err != nil || part != key {
			t.Fatalf("output record on partition %q has key %q; want the shard id", part, key)
		}
		records++
	}
	if records == 0 {
		t.Fatal("kcat read no record from the shard topic")
	}
	code, last := p.stop(t)
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if num(last, "datapoints_in") != lines || num(last, "datapoints_out") != lines-bad || num(last, "dropped_unparseable") != bad {
		t.Fatalf("summary %v; want %d in, %d out, %d unparseable", last, lines, lines-bad, bad)
	}
}
