// fleet_test.go is longer than ~400 lines because it is one test, TestFleetChaos, with the
// fleet it drives (processes, broker restarts, offsets) and the events it plays; its parts share
// that state and are read together.

package fleet

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/shard"
	"github.com/sluicehq/sluice/proto/prompb"
)

// The fleet test runs what an ECS service runs: three sluice processes in one consumer group
// with the default timeouts (nothing shortened), a broker in a process of its own, load from
// sluice loadgen, and the day's events — kills, a kill twice in a row, a rolling restart, a scale
// down and up, a broker restart — at moments drawn from a logged seed. After every event each
// input partition must be consumed again within session timeout + rebalance timeout + 10 s, and
// the group must catch up within 30 s more. At the end every datapoint written to the input is on
// its shard of the output.

const (
	fleetIn, fleetOut   = "fleet.in", "fleet.out"
	fleetGroup          = "fleet"
	fleetPartitions     = 16
	fleetShards         = 8
	fleetRate           = 10_000 // datapoints per second, far below what three processes carry
	fleetLinesPerRecord = 100
	fleetProcs          = 3
)

type fleet struct {
	t      *testing.T
	bin    string
	cfg    string
	broker *kafkatest.Process
	procs  [fleetProcs]*sluicetest.Proc // nil: not running
	// saramaLogs are the files the running processes' Kafka clients log to; starts counts them.
	saramaLogs [fleetProcs]string
	starts     int
	rng        *rand.Rand
	// ownedWithin and caughtUpWithin are the bounds after an event.
	ownedWithin time.Duration
	// marks are the events in order, with when each began, to attribute duplicates to them.
	marks []eventMark
	log   []string
	// exactlyOnce runs the fleet with delivery = "exactly_once": the output is read as a
	// read_committed consumer reads it, and a single duplicate fails the test.
	exactlyOnce bool
}

func TestFleetChaos(t *testing.T) { fleetChaos(t, false) }

// TestFleetChaosExactlyOnce is TestFleetChaos with delivery = "exactly_once": through the same
// kills, rolling restart and scaling (not the broker restart), every datapoint is on the shard
// topic exactly once as a read_committed consumer sees it.
func TestFleetChaosExactlyOnce(t *testing.T) { fleetChaos(t, true) }

func fleetChaos(t *testing.T, exactlyOnce bool) {
	if testing.Short() {
		t.Skip("the fleet test runs for minutes")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_FLEET_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("fleet seed %d (replay with SLUICE_FLEET_SEED=%d)", seed, seed)
	f := &fleet{t: t, bin: sluicetest.Binary(t), rng: rand.New(rand.NewPCG(seed, 14)), exactlyOnce: exactlyOnce}
	f.broker = kafkatest.StartProcess(t)
	f.broker.CreateTopic(t, fleetIn, fleetPartitions)
	f.broker.CreateTopic(t, fleetOut, fleetShards)
	f.cfg = f.writeConfig()
	def, err := config.LoadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The group's bounds, from the defaults this test runs with.
	session := def.Kafka.SessionTimeout
	rebalance := def.Kafka.RebalanceTimeout
	f.ownedWithin = session + rebalance + 10*time.Second
	t.Logf("defaults: session timeout %s, rebalance timeout %s: partitions owned again within %s", session, rebalance, f.ownedWithin)

	load := exec.Command(f.bin, "loadgen", "-brokers", f.broker.Addrs[0], "-topic", fleetIn,
		"-rate", strconv.Itoa(fleetRate), "-lines-per-record", strconv.Itoa(fleetLinesPerRecord), "-series", "2000")
	load.Stderr = nil // its progress line a second is noise here
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { load.Process.Kill(); load.Wait() })

	f.marks = append(f.marks, eventMark{"start", time.Now()})
	for i := range f.procs {
		f.start(i)
	}
	f.settle("start")

	events := []string{"kill", "kill twice", "kill", "rolling restart", "scale 3-1-3", "broker restart", "kill"}
	if exactlyOnce {
		// A broker outage breaks the open transaction of every task (its produce requests fail),
		// and each then exits to be replaced (docs/fleet.md): the orchestrator's part, which this
		// harness does not play.
		events = slices.DeleteFunc(events, func(ev string) bool { return ev == "broker restart" })
	}
	f.rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	for _, ev := range events {
		f.pause(2*time.Second, 8*time.Second)
		f.event(ev)
	}

	f.checkGroupMetrics()

	// Stop the load, let the fleet commit the input to its end, stop the fleet.
	load.Process.Signal(syscall.SIGTERM)
	load.Wait()
	kafkatest.WaitFor(t, time.Minute, "the input committed to its end", func() bool {
		return len(f.broker.Uncommitted(t, fleetGroup, fleetIn)) == 0
	})
	for i, p := range f.procs {
		if p == nil {
			continue
		}
		if code, last := p.Stop(t); code != 0 {
			t.Errorf("process %d: exit %d on SIGTERM, last line %v", i, code, last)
		}
	}
	f.check()
}

func (f *fleet) writeConfig() string {
	delivery := ""
	if f.exactlyOnce {
		delivery = `delivery = "exactly_once"`
	}
	src := fmt.Sprintf(`
log { level = "info" }
kafka { brokers = [%q] }
input "opentsdb" {
  topics = [%q]
  group  = %q
}
output "kafka" "tsdb" {
  topic  = %q
  shards = %d
  %s
}
`, f.broker.Addrs[0], fleetIn, fleetGroup, fleetOut, fleetShards, delivery)
	return sluicetest.WriteConfig(f.t, src)
}

func (f *fleet) start(i int) {
	f.starts++
	f.saramaLogs[i] = filepath.Join(f.t.TempDir(), fmt.Sprintf("sarama-%d-%d.log", i, f.starts))
	f.procs[i] = sluicetest.Start(f.t, f.bin, []string{"SLUICE_SARAMA_LOG=" + f.saramaLogs[i]}, "run", "-config", f.cfg)
}

func (f *fleet) kill(i int) {
	p := f.procs[i]
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.Done()
	p.Cmd.Wait()
	f.procs[i] = nil
}

func (f *fleet) term(i int) {
	if code, last := f.procs[i].Stop(f.t); code != 0 {
		f.t.Errorf("process %d: exit %d on SIGTERM, last line %v", i, code, last)
	}
	f.procs[i] = nil
}

func (f *fleet) pause(lo, hi time.Duration) {
	time.Sleep(lo + time.Duration(f.rng.Int64N(int64(hi-lo))))
}

func (f *fleet) running() []int {
	var out []int
	for i, p := range f.procs {
		if p != nil {
			out = append(out, i)
		}
	}
	return out
}

// event makes one of the day's events happen. The bounds run from its last disruption: the last
// kill, the scale up, the broker's start.
// eventMark is an event of the run and when it began.
type eventMark struct {
	name string
	at   time.Time
}

func (f *fleet) event(ev string) {
	f.marks = append(f.marks, eventMark{ev, time.Now()})
	var t0 time.Time
	switch ev {
	case "kill":
		i := f.running()[f.rng.IntN(len(f.running()))]
		f.kill(i)
		t0 = time.Now()
		f.pause(0, 5*time.Second)
		f.start(i)
	case "kill twice":
		i := f.running()[f.rng.IntN(len(f.running()))]
		f.kill(i)
		f.pause(0, 5*time.Second)
		f.start(i)
		f.pause(300*time.Millisecond, 5*time.Second)
		f.kill(i)
		t0 = time.Now()
		f.pause(0, 5*time.Second)
		f.start(i)
	case "rolling restart":
		for _, i := range f.running() {
			f.term(i)
			f.start(i)
			f.settle(fmt.Sprintf("rolling restart: process %d", i))
		}
	case "scale 3-1-3":
		keep := f.rng.IntN(fleetProcs)
		for _, i := range f.running() {
			if i != keep {
				f.term(i)
			}
		}
		f.settle("scale to 1")
		t0 = time.Now()
		for i := range f.procs {
			if f.procs[i] == nil {
				f.start(i)
			}
		}
	case "broker restart":
		f.broker.Kill(f.t)
		f.pause(0, 3*time.Second)
		f.broker.Start(f.t)
		t0 = time.Now()
	}
	if t0.IsZero() {
		t0 = time.Now()
	}
	f.settleSince(ev, t0)
}

func (f *fleet) settle(what string) { f.settleSince(what, time.Now()) }

// settleSince waits until the running processes consume every input partition, each exactly
// once, and then until the group's committed lag is below one second of input.
func (f *fleet) settleSince(what string, t0 time.Time) {
	t := f.t
	var state string
	for {
		owners, idle := f.owners()
		state = fmt.Sprint(owners)
		if idle == 0 && eachOnce(owners) {
			break
		}
		if time.Since(t0) > f.ownedWithin {
			f.dumpLogs()
			t.Fatalf("%s: after %s the running processes %v consume partitions %s (partition: owners), want each of %d once, and %d of them consume none",
				what, f.ownedWithin, f.running(), state, fleetPartitions, idle)
		}
		time.Sleep(200 * time.Millisecond)
	}
	owned := time.Since(t0)
	second := int64(fleetRate / fleetLinesPerRecord)
	var lag int64
	for {
		committed, end := f.broker.Offsets(t, fleetGroup, fleetIn)
		lag = 0
		for p, e := range end {
			lag += e - max(committed[p], 0)
		}
		if lag < second {
			break
		}
		if time.Since(t0) > owned+30*time.Second {
			f.dumpLogs()
			t.Fatalf("%s: partitions owned after %s, but 30 s later the group is still %d records behind (one second is %d)",
				what, owned.Round(100*time.Millisecond), lag, second)
		}
		time.Sleep(200 * time.Millisecond)
	}
	l := fmt.Sprintf("%-34s every partition owned after %5.1f s, caught up after %5.1f s",
		what+":", owned.Seconds(), time.Since(t0).Seconds())
	t.Log(l)
	f.log = append(f.log, l)
}

// dumpLogs prints the running processes' recent warnings and group events, for a failure.
func (f *fleet) dumpLogs() {
	for i, p := range f.procs {
		if p == nil {
			continue
		}
		var kept []string
		for _, l := range p.Logs() {
			if l["@level"] != "info" || strings.Contains(fmt.Sprint(l["@message"]), "partitions") {
				kept = append(kept, fmt.Sprint(l))
			}
		}
		if len(kept) > 20 {
			kept = kept[len(kept)-20:]
		}
		f.t.Logf("process %d, its last warnings and group events:\n%s", i, strings.Join(kept, "\n"))
		if b, err := os.ReadFile(f.saramaLogs[i]); err == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			f.t.Logf("process %d, the end of its Kafka client's log:\n%s", i, strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
	}
	f.t.Logf("the group requests the broker received last:\n%s", strings.Join(f.broker.GroupLog(150), "\n"))
	state, members := f.broker.Assignment(f.t, fleetGroup, fleetIn)
	f.t.Logf("the broker says the group is %s with %d members: %v", state, len(members), members)
}

// checkGroupMetrics checks what the running processes' /metrics say of the group: each counts its
// readers' first joins and their duration, the fleet's rebalances after the events, and the
// end-to-end latency of what it wrote; it logs the rebalances by cause.
func (f *fleet) checkGroupMetrics() {
	t := f.t
	type total struct{ count, seconds float64 }
	byCause := map[string]total{}
	for i, p := range f.procs {
		if p == nil {
			continue
		}
		l := p.Last("http listening")
		if l == nil {
			t.Fatalf("process %d has no http address", i)
		}
		addr, _ := l["address"].(string)
		fams := sluicetest.Scrape(t, addr)
		start := map[string]string{"cause": "start"}
		if n := sluicetest.Sum(fams["sluice_rebalances_total"], start); n < 1 {
			t.Errorf("process %d: sluice_rebalances_total{cause=\"start\"} = %v, want ≥ 1", i, n)
		}
		// A process started by the last event may not have finished a batch yet.
		kafkatest.WaitFor(t, 15*time.Second, fmt.Sprintf("process %d's sluice_end_to_end_latency_seconds samples", i), func() bool {
			lat := sluicetest.Scrape(t, addr)["sluice_end_to_end_latency_seconds"]
			return lat != nil && lat.Metric[0].GetHistogram().GetSampleCount() > 0
		})
		fam := fams["sluice_rebalance_duration_seconds"]
		if fam == nil {
			t.Fatalf("process %d: no sluice_rebalance_duration_seconds", i)
		}
		for _, m := range fam.Metric {
			var cause string
			for _, l := range m.Label {
				if l.GetName() == "cause" {
					cause = l.GetValue()
				}
			}
			c := byCause[cause]
			c.count += float64(m.GetHistogram().GetSampleCount())
			c.seconds += m.GetHistogram().GetSampleSum()
			byCause[cause] = c
		}
	}
	if byCause["start"].count < 1 {
		t.Errorf("no first-join duration observed: %v", byCause)
	}
	var after float64
	for cause, c := range byCause {
		if c.count > 0 {
			t.Logf("running processes' rebalances, cause %s: %v, mean %.1f s", cause, c.count, c.seconds/c.count)
		}
		if cause != "start" {
			after += c.count
		}
	}
	if after == 0 {
		t.Errorf("the running processes report no rebalance after their first join: %v", byCause)
	}
}

// eachOnce reports whether every input partition has exactly one owner.
func eachOnce(owners map[int32]int) bool {
	for p := int32(0); p < fleetPartitions; p++ {
		if owners[p] != 1 {
			return false
		}
	}
	return true
}

// owners counts, per input partition, the running processes whose /metrics say they consume it,
// and the running processes that consume none (not in the group yet, or left out).
func (f *fleet) owners() (out map[int32]int, idle int) {
	out = map[int32]int{}
	client := http.Client{Timeout: 2 * time.Second}
	for _, p := range f.procs {
		if p == nil {
			continue
		}
		idle++
		l := p.Last("http listening")
		if l == nil {
			continue
		}
		addr, _ := l["address"].(string)
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		consumes := false
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "sluice_partition_owned{") || !strings.Contains(line, `topic="`+fleetIn+`"`) {
				continue
			}
			_, rest, _ := strings.Cut(line, `partition="`)
			n, _, _ := strings.Cut(rest, `"`)
			if part, err := strconv.Atoi(n); err == nil {
				out[int32(part)]++
				consumes = true
			}
		}
		resp.Body.Close()
		if consumes {
			idle--
		}
	}
	return out, idle
}

// check compares what the input holds with what reached the output: every input datapoint at
// least once, on the partition of its series' shard; duplicates are counted and reported.
func (f *fleet) check() {
	t := f.t
	want := map[uint64]int32{}
	var lines int
	for _, m := range f.broker.ReadRecords(t, fleetIn) {
		s := m.Value
		for len(s) > 0 {
			var line []byte
			line, s = messages.NextLine(s)
			fields := strings.Fields(string(line))
			if len(fields) < 5 || fields[0] != "put" {
				t.Fatalf("input line %q is not what loadgen writes", line)
			}
			ts, _ := strconv.ParseInt(fields[2], 10, 64)
			v, _ := strconv.ParseFloat(fields[3], 64)
			tags := fields[4:]
			sort.Strings(tags)
			want[pointKey(fields[1], strings.Join(tags, ","), ts*1000, v)]++
			lines++
		}
	}
	// Each output datapoint's record timestamp (when a writer produced it), to attribute a
	// duplicate to the event before it was written.
	got := map[uint64][]int64{}
	var misplaced int
	out := f.broker.ReadRecords(t, fleetOut)
	if f.exactlyOnce {
		out = f.broker.ReadCommittedRecords(t, fleetOut)
	}
	for _, m := range out {
		raw, err := snappy.Decode(nil, m.Value)
		if err != nil {
			t.Fatalf("output partition %d offset %d: %v", m.Partition, m.Offset, err)
		}
		var wr prompb.WriteRequest
		if err := proto.Unmarshal(raw, &wr); err != nil {
			t.Fatalf("output partition %d offset %d: %v", m.Partition, m.Offset, err)
		}
		for _, ts := range wr.Timeseries {
			var dp messages.Datapoint
			var tags []string
			for _, l := range ts.Labels {
				if l.Name == "__name__" {
					dp.Metric = []byte(l.Value)
					continue
				}
				dp.Tags = append(dp.Tags, messages.Tag{Key: []byte(l.Name), Value: []byte(l.Value)})
				tags = append(tags, l.Name+"="+l.Value)
			}
			if int32(shard.Jump(shard.Hash(shard.AppendSeriesKey(nil, &dp)), fleetShards)) != m.Partition {
				misplaced++
			}
			sort.Strings(tags)
			for _, s := range ts.Samples {
				k := pointKey(string(dp.Metric), strings.Join(tags, ","), s.Timestamp, s.Value)
				got[k] = append(got[k], m.Timestamp.UnixMilli())
			}
		}
	}
	var lost, dups int64
	byEvent := make([]int64, len(f.marks))
	for k, n := range want {
		occ := got[k]
		if g := int32(len(occ)); g < n {
			lost += int64(n - g)
			continue
		}
		slices.Sort(occ)
		for _, at := range occ[n:] {
			dups++
			byEvent[f.markBefore(at)]++
		}
	}
	for k, occ := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%d datapoints on the output were never written to the input", len(occ))
			break
		}
	}
	for i, m := range f.marks {
		t.Logf("duplicates written after %-16s (event %d): %d", m.name, i, byEvent[i])
	}
	t.Logf("fleet: %d datapoints written to the input, %d lost, %d duplicates (%.2f%%), %d series samples on a partition other than their shard",
		lines, lost, dups, 100*float64(dups)/float64(max(lines, 1)), misplaced)
	if lost > 0 || misplaced > 0 {
		t.Fatalf("%d datapoints lost, %d misplaced", lost, misplaced)
	}
	if f.exactlyOnce && dups > 0 {
		t.Fatalf("exactly_once: %d duplicates on the shard topic as read_committed sees it", dups)
	}
	if lines < fleetRate*30 {
		t.Fatalf("only %d datapoints reached the input: the load did not run", lines)
	}
}

// markBefore is the index of the last event that began at or before ms (Unix milliseconds).
func (f *fleet) markBefore(ms int64) int {
	i := 0
	for j, m := range f.marks {
		if m.at.UnixMilli() <= ms {
			i = j
		}
	}
	return i
}

func pointKey(metric, tags string, tsMs int64, v float64) uint64 {
	h := xxhash.New()
	h.WriteString(metric)
	h.WriteString("\x00")
	h.WriteString(tags)
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(uint64(tsMs) >> (8 * i))
		b[8+i] = byte(math.Float64bits(v) >> (8 * i))
	}
	h.Write(b[:])
	return h.Sum64()
}
