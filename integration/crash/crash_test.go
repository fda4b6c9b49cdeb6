package crash

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// Crash tests run the built binary against a kfake broker in the test process, kill or fault it,
// and check what reached the shard topic: every valid datapoint at least once on its shard's
// partition, the input committed to its end. Duplicates are allowed (at-least-once) and logged.

const crashLines = 1_000_000

// crashConfig writes a config for the binary with a shutdown timeout the tests can wait for and
// a production-like group session timeout; killConfig's is short.
func crashConfig(t *testing.T, c *kafkatest.Cluster, topic, extra string) string {
	t.Helper()
	return writeCrashConfig(t, c, topic, "6s", "1s", "4s", extra)
}

// killConfig is crashConfig with a 2 s session timeout (rebalance 1.5 s, below it), so that a
// killed member is replaced quickly. Only for tests that kill: under load on two cores, heartbeats that late cost
// rebalances (at-least-once holds, but work is repeated).
func killConfig(t *testing.T, c *kafkatest.Cluster, topic, extra string) string {
	t.Helper()
	return writeCrashConfig(t, c, topic, "2s", "300ms", "1500ms", extra)
}

func writeCrashConfig(t *testing.T, c *kafkatest.Cluster, topic, session, heartbeat, rebalance, extra string) string {
	t.Helper()
	src := `log { level = "info" }` + sluicetest.CrashHCL(c.Addrs[0], topic,
		fmt.Sprintf("  session_timeout = %q\n  heartbeat_interval = %q\n  rebalance_timeout = %q\n", session, heartbeat, rebalance),
		"  linger = \"50ms\"\n") + extra + "\n"
	if !strings.Contains(extra, "pipeline {") {
		src += "pipeline { shutdown_timeout = \"3s\" }\n"
	}
	return sluicetest.WriteConfig(t, src)
}

// finish runs sluice until the input is committed, stops it with SIGTERM and returns its summary.
func finish(t *testing.T, bin string, env []string, c *kafkatest.Cluster, topic, cfg string) map[string]any {
	t.Helper()
	p := sluicetest.Start(t, bin, env, "run", "-config", cfg)
	kafkatest.WaitFor(t, time.Minute, "the pipeline started", func() bool { return p.Last("pipeline started") != nil })
	kafkatest.WaitFor(t, 2*time.Minute, "the input committed to its end", func() bool {
		return len(c.Uncommitted(t, group, topic)) == 0
	})
	code, last := p.Stop(t)
	if code != 0 || last["@message"] != "sluice stopped" {
		t.Fatalf("exit %d, last line %v", code, last)
	}
	return last
}

func TestCrashKill9Loop(t *testing.T) {
	const topic = "in.kill9"
	t0 := time.Now()
	c := kafkatest.Start(t, topic, 4, outTopic, shards)
	lines, exp := kafkatest.Generate(crashLines)
	// A tenth of the input is there at the start; the rest arrives over the kill loop (about
	// 40,000 lines a second), so that the kills land while records are being consumed: today's
	// pipeline would read the whole input before the second kill.
	preload := crashLines / 10
	c.Produce(t, topic, lines[:preload], 200)
	produced := sluicetest.ProduceOver(t, c, topic, lines[preload:], 8_000, 200)
	t.Logf("%s: input started", time.Since(t0).Round(time.Millisecond))
	cfg := killConfig(t, c, topic, "")
	bin := sluicetest.Binary(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_KILL9_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("kill moments seed %d (replay with SLUICE_KILL9_SEED=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 9))
	progress := func() (done, total int64) {
		committed, end := c.Offsets(t, group, topic)
		for part, e := range end {
			done += max(committed[part], 0)
			total += e
		}
		return done, total
	}
	// A kill proves something only if it lands mid-stream: after the process got partitions to
	// consume and before the input is done. Count those.
	midStream := 0
	for i := 0; i < 10; i++ {
		p := sluicetest.Start(t, bin, nil, "run", "-config", cfg)
		time.Sleep(time.Duration(1000+r.IntN(3500)) * time.Millisecond) // a random moment, mostly after the partitions came
		if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.Done()
		p.Cmd.Wait()
		if done, total := progress(); done < total && p.Last("partitions assigned") != nil {
			midStream++
		}
	}
	done, total := progress()
	t.Logf("%s: after 10 kills (%d of them mid-stream), %d of %d records committed", time.Since(t0).Round(time.Millisecond), midStream, done, total)
	if midStream < 3 {
		t.Fatalf("only %d kills landed while the input was being consumed: the loop tested too little", midStream)
	}
	<-produced
	finish(t, bin, nil, c, topic, cfg)
	t.Logf("%s: last run finished", time.Since(t0).Round(time.Millisecond))
	checked, dups := sluicetest.CheckZeroLoss(t, c, exp, topic)
	t.Logf("%s: output checked", time.Since(t0).Round(time.Millisecond))
	t.Logf("kill -9 loop: %d valid datapoints checked, all present; %d duplicates (%.2f%%)", checked, dups, 100*float64(dups)/float64(checked))
}

func TestCrashSIGTERMUnderLoad(t *testing.T) {
	const topic = "in.sigterm"
	c := kafkatest.Start(t, topic, 4, outTopic, shards)
	lines, exp := kafkatest.Generate(crashLines)
	c.Produce(t, topic, lines, 200)
	// A throttled pipeline (one small batch at a time) is still behind on the input when SIGTERM
	// comes; the run after it has the normal settings.
	throttled := crashConfig(t, c, topic, `pipeline {
  readers = 1
  workers = 1
  writers = 1
  batch_bytes = "16KiB"
  shard_batch_bytes = "16KiB"
  raw_batches = 2
  shard_batches = 4
  shutdown_timeout = "10s"
}`)
	cfg := crashConfig(t, c, topic, "")
	bin := sluicetest.Binary(t)
	p := sluicetest.Start(t, bin, nil, "run", "-config", throttled, "-progress", "100ms")
	kafkatest.WaitFor(t, time.Minute, "datapoints flowing", func() bool {
		pr := p.Last("progress")
		return pr != nil && sluicetest.Num(pr, "out_total") > 0
	})
	start := time.Now()
	code, last := p.Stop(t)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	if took > 10*time.Second+2*time.Second {
		t.Fatalf("SIGTERM took %s; shutdown_timeout is 10s", took)
	}
	if _, ok := last["batches_left"]; !ok || last["@message"] != "sluice stopped" {
		t.Fatalf("last line is not the summary: %v", last)
	}
	if sluicetest.Num(last, "datapoints_in") >= crashLines {
		t.Fatalf("the first run read everything before SIGTERM; the test proves nothing")
	}
	t.Logf("SIGTERM under load: stopped in %s with %d of %d datapoints read, %d batches left", took.Round(time.Millisecond),
		sluicetest.Num(last, "datapoints_in"), crashLines, sluicetest.Num(last, "batches_left"))
	finish(t, bin, nil, c, topic, cfg)
	checked, dups := sluicetest.CheckZeroLoss(t, c, exp, topic)
	t.Logf("SIGTERM under load: %d valid datapoints checked, all present; %d duplicates", checked, dups)
}

func TestCrashInjectedPanics(t *testing.T) {
	const topic = "in.panics"
	c := kafkatest.Start(t, topic, 4, outTopic, shards)
	lines, exp := kafkatest.Generate(200_000)
	c.Produce(t, topic, lines, 100)
	// Small batches: ~1000 worker and writer batches each, so at 1 % a run without any fault
	// has a probability of about 1e-9.
	cfg := crashConfig(t, c, topic, `supervisor {
  max_restarts = 1000
  within = "1m"
}
pipeline {
  batch_bytes = "16KiB"
  shard_batch_bytes = "16KiB"
  shutdown_timeout = "3s"
}`)
	bin := sluicetest.Binary(t, "faultinject")
	last := finish(t, bin, []string{"SLUICE_FAULTS=worker=0.01,writer=0.01"}, c, topic, cfg)
	if sluicetest.Num(last, "restarts") == 0 {
		t.Fatalf("no restarts with 1%% of batches failing: %v", last)
	}
	// The default counts: 2 readers, 4 workers, 2 writers.
	if sluicetest.Num(last, "readers_alive") != 2 || sluicetest.Num(last, "workers_alive") != 4 || sluicetest.Num(last, "writers_alive") != 2 {
		t.Fatalf("actor counts did not hold: %v", last)
	}
	checked, dups := sluicetest.CheckZeroLoss(t, c, exp, topic)
	t.Logf("injected panics: %d valid datapoints checked, all present; %d duplicates; %d restarts", checked, dups, sluicetest.Num(last, "restarts"))
}

func TestCrashEscalationExits3(t *testing.T) {
	const topic = "in.escalate3"
	c := kafkatest.Start(t, topic, 2, outTopic, shards)
	lines, _ := kafkatest.Generate(20_000)
	c.Produce(t, topic, lines, 100)
	cfg := crashConfig(t, c, topic, `supervisor {
  max_restarts = 2
  within = "1m"
  redeliveries = 1000
}`)
	p := sluicetest.Start(t, sluicetest.Binary(t, "faultinject"), []string{"SLUICE_FAULTS=worker=1"}, "run", "-config", cfg)
	select {
	case <-p.Done():
	case <-time.After(time.Minute):
		t.Fatal("no exit within the restart window")
	}
	p.Cmd.Wait()
	if code := p.Cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit status %d, want 3", code)
	}
	if p.Last("escalating: an actor exhausted its restart budget; shutting down") == nil {
		t.Fatal("no escalation log line")
	}
	committed, _ := c.Offsets(t, group, topic)
	for part, off := range committed {
		if off > 0 {
			t.Fatalf("partition %d committed %d although every batch failed", part, off)
		}
	}
}

// TestCrashPoisonRecord: the built binary with a record that always fails its worker (the fault
// hook) dead-letters that record, with the right headers, after `redeliveries` attempts, and
// delivers every other record of the topic.
func TestCrashPoisonRecord(t *testing.T) {
	const poisonMarker = "POISON" // what SLUICE_FAULTS=poison= makes a worker fail on
	const topic, dlq = "in.poisonbin", "sluice.dead"
	c := kafkatest.Start(t, topic, 2, outTopic, shards)
	c.CreateTopic(t, dlq, 1)
	records, valid, poison := kafkatest.PoisonInput(poisonMarker)
	c.ProduceRecords(t, topic, records, time.Now())
	cfg := crashConfig(t, c, topic, fmt.Sprintf(`supervisor {
  max_restarts = 50
  within = "1m"
  redeliveries = 2
}
dead_letter { topic = %q }`, dlq))
	last := finish(t, sluicetest.Binary(t, "faultinject"), []string{"SLUICE_FAULTS=poison=" + poisonMarker}, c, topic, cfg)
	if sluicetest.Num(last, "restarts") < 3 || sluicetest.Num(last, "dropped_poison") < 1 {
		t.Fatalf("summary %v; want ≥3 restarts and the poison record dropped", last)
	}
	// At-least-once: a rebalance may make the pipeline read a record again, so count presence.
	seen := map[float64]bool{}
	for _, pt := range c.ReadOutput(t, outTopic) {
		seen[pt.Value] = true
	}
	if len(seen) != valid {
		t.Fatalf("%d of %d valid datapoints delivered", len(seen), valid)
	}
	dead := c.ReadRecords(t, dlq)
	if len(dead) == 0 {
		t.Fatal("nothing on the dead-letter topic")
	}
	for _, d := range dead {
		h := map[string]string{}
		for _, rh := range d.Headers {
			h[string(rh.Key)] = string(rh.Value)
		}
		if string(d.Value) != poison || h["sluice-reason"] != "poison" || h["sluice-detail"] != "injected fault: poison record" ||
			h["sluice-source-topic"] != topic {
			t.Fatalf("dead letter %q with headers %v; want only the poison record", d.Value, h)
		}
	}
	t.Logf("poison record: %d valid datapoints delivered, the poison record dead-lettered (%d time(s)) after %d restarts",
		valid, len(dead), sluicetest.Num(last, "restarts"))
}
