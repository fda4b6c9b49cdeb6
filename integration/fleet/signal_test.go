package fleet

import (
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// A SIGTERM at any moment of start-up — config loaded, group not joined yet — stops the process
// cleanly with exit 0 (an ECS deploy that is rolled back at once sends exactly this).
func TestSIGTERMDuringStartExits0(t *testing.T) {
	const topic = "in.sigterm"
	c := kafkatest.Start(t, topic, 4, outTopic, shards)
	cfg := crashConfig(t, c, topic, "")
	bin := sluicetest.Binary(t)
	for _, after := range []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, time.Second} {
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
		if ws.Signaled() || ws.ExitStatus() != 0 {
			t.Fatalf("SIGTERM %s after start: %s, want exit 0", after, p.Cmd.ProcessState)
		}
		if p.Last("sluice stopped") == nil {
			t.Fatalf("SIGTERM %s after start: exit 0 without the final summary line", after)
		}
	}
}
