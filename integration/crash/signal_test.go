package crash

import (
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// A SIGTERM at any moment of start-up — packages still initializing, config loaded, group not
// joined yet — stops the process cleanly with exit 0 (an ECS deploy that is rolled back at once
// sends exactly this).
//
// No process can handle a signal before its runtime has started and its first package initializer
// (earlysignal, about 6 ms after the runtime starts, some 12 ms after exec on an idle 2-core
// machine) has run: a SIGTERM before that takes the default action. On a loaded machine 20 ms after
// exec can still fall in that window, so the 20 ms case is tried up to five times and fails only when
// every try was killed — which is what happens, every time, if the signal is caught only after the
// heavier packages' initialization (some 25 ms in). Every try that is not killed must exit 0 with
// its summary.
func TestSIGTERMDuringStartExits0(t *testing.T) {
	const topic = "in.sigterm"
	c := kafkatest.Start(t, topic, 4, outTopic, shards)
	cfg := crashConfig(t, c, topic, "")
	bin := sluicetest.Binary(t)
	for _, after := range []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, time.Second} {
		tries := 1
		if after < 50*time.Millisecond {
			tries = 5
		}
		for try := 1; ; try++ {
			p := sluicetest.Start(t, bin, nil, "run", "-config", cfg)
			time.Sleep(after)
			if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
			case <-time.After(40 * time.Second):
				t.Fatalf("SIGTERM %s after start: no exit within 40 s", after)
			}
			p.Cmd.Wait()
			ws := p.Cmd.ProcessState.Sys().(syscall.WaitStatus)
			if ws.Signaled() && ws.Signal() == syscall.SIGTERM && try < tries {
				t.Logf("SIGTERM %s after start, try %d: killed before the process could catch it; again", after, try)
				continue
			}
			if ws.Signaled() || ws.ExitStatus() != 0 {
				t.Fatalf("SIGTERM %s after start (try %d of %d): %s, want exit 0", after, try, tries, p.Cmd.ProcessState)
			}
			if p.Last("sluice stopped") == nil {
				t.Fatalf("SIGTERM %s after start: exit 0 without the final summary line", after)
			}
			break
		}
	}
}
