package kafkatest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// brokerEnv makes a test binary run as a broker process instead of its tests (see RunBroker):
// its value is "<data dir>|<host:port>".
const brokerEnv = "SLUICE_TEST_KFAKE"

// RunBroker is called first in a package's TestMain. In a process started by StartProcess it
// runs the broker until SIGTERM and exits; otherwise it returns at once.
func RunBroker() {
	v := os.Getenv(brokerEnv)
	if v == "" {
		return
	}
	dir, addr, _ := strings.Cut(v, "|")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	var log io.Writer = os.Stderr
	if f, err := os.OpenFile(filepath.Join(dir, groupLogName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		log = f
	}
	fmt.Fprintf(log, "%s broker started\n", time.Now().Format("15:04:05.000"))
	ExpireSilentMembers(c, log)
	fmt.Println("listening", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	c.Close()
	os.Exit(0)
}

// GroupLog returns the last n lines of the group requests the broker process received, over
// all its restarts.
func (p *Process) GroupLog(n int) []string {
	b, err := os.ReadFile(filepath.Join(p.dir, groupLogName))
	if err != nil {
		return []string{err.Error()}
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[max(0, len(lines)-n):]
}

// Process is a kfake broker in a process of its own (the test binary run again), with its state
// in a data directory so that it can be killed and started again on the same address, as a
// Kafka broker restarts.
type Process struct {
	Cluster // Addrs and the client helpers; no in-process kfake
	dir     string
	addr    string
	cmd     *exec.Cmd
}

// StartProcess runs a broker process on a free loopback port with its state in a new directory.
func StartProcess(t testing.TB) *Process {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &Process{dir: t.TempDir(), addr: addr}
	p.Addrs = []string{addr}
	p.Start(t)
	t.Cleanup(func() { p.Kill(t) })
	return p
}

// Start starts the broker process (again) and waits until it listens.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), brokerEnv+"="+p.dir+"|"+p.addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.HasPrefix(sc.Text(), "listening ") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the broker process exited before it listened")
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the broker process did not listen within a minute")
	}
	p.cmd = cmd
}

// Kill kills the broker process with SIGKILL (what it wrote is in the page cache, as with a
// Kafka broker whose process dies, so it comes back when started again).
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
}
