package main

// sluice replay: re-ingest a time range of the input topics through the configured pipeline,
// into the configured outputs or one chosen output, without touching the live consumer groups
// (docs/control.md, "Replaying a time range").

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/kafkaio"
)

// replayRange is one partition's range: [start, end) in offsets, next the replay group's
// committed offset (where it stands).
type replayRange struct {
	start, end, next int64
}

func replayCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("replay", stderr)
	path := fs.String("config", "", "the config file the live tasks run (required)")
	fromS := fs.String("from", "", "replay records from this time on (RFC 3339, such as 2026-12-04T10:00:00Z; required)")
	toS := fs.String("to", "", "up to this time, exclusive (RFC 3339; default: now)")
	inputName := fs.String("input", "", "the input to replay (its format, as in input \"influx\"); the default when the config has one input")
	outputName := fs.String("output", "", "write only to this output, whatever the routes say (default: the routes' outputs)")
	match := fs.String("match", "", "replay only the metric names these comma-separated globs match (after relabeling)")
	rateDP := fs.Float64("rate", 0, "at most this many datapoints a second (0: as fast as the pipeline goes)")
	group := fs.String("group", "", "the consumer group that keeps the replay's progress (default: one per input group and range)")
	progress := fs.Duration("progress", 5*time.Second, "how often to log a progress line")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "sluice replay: "+format+"\n", a...)
		return exitError
	}
	if *path == "" || *fromS == "" {
		return fail("-config FILE and -from TIME are required")
	}
	from, err := time.Parse(time.RFC3339, *fromS)
	if err != nil {
		return fail("-from %q: want RFC 3339, such as 2026-12-04T10:00:00Z", *fromS)
	}
	to := time.Now()
	if *toS != "" {
		if to, err = time.Parse(time.RFC3339, *toS); err != nil {
			return fail("-to %q: want RFC 3339, such as 2026-12-04T11:00:00Z", *toS)
		}
	}
	if !from.Before(to) {
		return fail("-from %s is not before -to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if *rateDP < 0 {
		return fail("-rate %v: must be 0 (no cap) or positive", *rateDP)
	}
	file, ok := loadConfig(*path, stderr)
	if !ok {
		return exitError
	}
	log := newLogger(file, stderr).Named("replay")
	// The settings the live tasks run: the control topic's document over the file, if any.
	ctl := newControlState(file, log)
	cfg := ctl.boot()
	if ctl.client != nil {
		ctl.client.Close()
	}
	var globs []string
	for g := range strings.SplitSeq(*match, ",") {
		if g = strings.TrimSpace(g); g != "" {
			globs = append(globs, g)
		}
	}
	if err := replayConfig(cfg, *inputName, *outputName, from, to, *group); err != nil {
		return fail("%v", err)
	}

	client, err := sarama.NewClient(cfg.Kafka.Brokers, kafkaio.ClientConfig(cfg.Kafka))
	if err != nil {
		return fail("cannot reach Kafka at %s: %v%s", strings.Join(cfg.Kafka.Brokers, ","), err, kafkaio.AuthHint(cfg.Kafka, err))
	}
	defer client.Close()
	ranges, err := replayRanges(client, cfg, from, to)
	if err != nil {
		return fail("%v", err)
	}
	replayGroup := cfg.Inputs[0].Group
	parts := map[string][]int32{}
	for tp := range ranges {
		parts[tp.topic] = append(parts[tp.topic], tp.partition)
	}
	committed, err := fetchGroupOffsets(client, replayGroup, parts)
	if err != nil {
		return fail("reading the progress of group %s: %v", replayGroup, err)
	}
	seed := map[topicPartition]int64{}
	var total, left int64
	for tp, r := range ranges {
		// Resume where the group stands when that is inside the range; else start it.
		switch c, ok := committed[tp]; {
		case ok && c >= r.start && c <= r.end:
			r.next = c
		case ok && c > r.end:
			r.next = r.end
		default:
			r.next = r.start
			seed[tp] = r.start
		}
		ranges[tp] = r
		total += r.end - r.start
		left += r.end - r.next
	}
	if err := commitGroupOffsets(client, replayGroup, seed); err != nil {
		return fail("setting the start of group %s: %v (is a replay with this group still running?)", replayGroup, err)
	}
	log.Info("replay", "from", from.Format(time.RFC3339), "to", to.Format(time.RFC3339), "group", replayGroup,
		"inputs", strings.Join(inputNames(cfg), ","), "outputs", strings.Join(outputNames(cfg), ","), "match", strings.Join(globs, ","),
		"partitions", len(ranges), "records", total, "records_left", left, "resumed", len(seed) < len(ranges) && total != left)
	if left == 0 {
		fmt.Fprintf(stdout, "nothing to replay: %d records in the range, all replayed already (group %s)\n", total, replayGroup)
		return exitOK
	}

	end := map[string]map[int32]int64{}
	for tp, r := range ranges {
		if end[tp.topic] == nil {
			end[tp.topic] = map[int32]int64{}
		}
		end[tp.topic][tp.partition] = r.end
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := actors.New(cfg, log, nil)
	if err != nil {
		return fail("cannot build the pipeline: %v", err)
	}
	if err := p.SetReplay(&actors.Replay{End: end, Match: globs, Rate: *rateDP}); err != nil {
		return fail("-match: %v", err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = p.Start(startCtx)
	cancel()
	if err != nil {
		return fail("cannot start: %v", err)
	}
	applyMemoryLimit(p, log, true)
	began := time.Now()
	pr := &replayProgress{client: client, group: replayGroup, parts: parts, ranges: ranges, began: began, doneAt: total - left}
	tune := time.NewTicker(time.Second)
	defer tune.Stop()
	report := time.NewTicker(*progress)
	defer report.Stop()
	code, interrupted := exitOK, false
loop:
	for {
		select {
		case <-ctx.Done():
			interrupted = true
			log.Info("interrupted: stopping; progress is kept, run the same command again to resume")
			break loop
		case err := <-p.Fatal():
			log.Error("the pipeline failed; progress is kept, run the same command again to resume", "error", err)
			code = exitEscalated
			break loop
		case <-tune.C:
			if s := p.Stats(); *rateDP > 0 && s.RecordsIn > 0 && s.DatapointsIn > 0 {
				p.SetReplayRate(*rateDP * float64(s.RecordsIn) / float64(s.DatapointsIn))
			}
			if p.ReplayPending() == 0 {
				log.Info("the range is read and acknowledged; stopping")
				break loop
			}
		case <-report.C:
			pr.log(log, p)
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Pipeline.ShutdownTimeout)
	defer cancel()
	s := p.Stop(stopCtx)
	// What the group committed is what is done: read back, not assumed.
	if err := pr.fetch(); err != nil {
		log.Warn("reading the progress back", "error", err)
	}
	done, rest := pr.counts()
	fmt.Fprintf(stdout, "replayed %s to %s (group %s) in %s: %d of %d records (%d left); %d datapoints read, %d written, %d dropped",
		from.Format(time.RFC3339), to.Format(time.RFC3339), replayGroup, time.Since(began).Round(time.Millisecond),
		done, total, rest, s.DatapointsIn, s.DatapointsOut, s.Dropped.Total())
	for f := dropFields(s.Dropped); len(f) >= 2; f = f[2:] {
		fmt.Fprintf(stdout, ", %s %d", f[0], f[1])
	}
	fmt.Fprintln(stdout)
	switch {
	case code != exitOK:
		return code
	case interrupted || rest > 0:
		fmt.Fprintf(stderr, "sluice replay: %d records left; progress is kept: run the same command again to resume\n", rest)
		return exitError
	}
	return exitOK
}

// replayConfig turns the live config into the replay's: the chosen input (or all), in a group of
// the replay's own; the chosen output (or all) with the routes pointing at it; no aggregation
// (its windows belong to the live pipeline); and the validation's max_age counted from -from, so
// that a range older than max_age is not dropped as too old.
func replayConfig(cfg *config.Config, input, output string, from, to time.Time, group string) error {
	if input == "" && len(cfg.Inputs) > 1 {
		return fmt.Errorf("the config has %d inputs: name the one to replay with -input (%s)", len(cfg.Inputs), strings.Join(inputNames(cfg), ", "))
	}
	if input != "" {
		i := slices.IndexFunc(cfg.Inputs, func(in *config.Input) bool { return in.Format == input })
		if i < 0 {
			return fmt.Errorf("the config has no input %q (inputs: %s)", input, strings.Join(inputNames(cfg), ", "))
		}
		cfg.Inputs = []*config.Input{cfg.Inputs[i]}
	}
	in := cfg.Inputs[0]
	if group == "" {
		const stamp = "20060102T150405Z"
		group = "sluice-replay." + in.Group + "." + from.UTC().Format(stamp) + "-" + to.UTC().Format(stamp)
	}
	if in.Group == group {
		return fmt.Errorf("-group %s is the live group of input %q: a replay keeps its progress in a group of its own", group, in.Format)
	}
	in.Group = group
	if output != "" {
		o := cfg.Output(output)
		if o == nil {
			return fmt.Errorf("the config has no output %q (outputs: %s)", output, strings.Join(outputNames(cfg), ", "))
		}
		cfg.Outputs = []*config.Output{o}
		for _, r := range cfg.Routes {
			r.Outputs = []string{output}
		}
	}
	cfg.Aggregates = nil
	cfg.Validation.MaxAge = max(cfg.Validation.MaxAge, time.Since(from)+cfg.Validation.MaxAge)
	return nil
}

// replayRanges finds each input partition's range: the first offset whose record's timestamp is
// at or after from (Kafka's ListOffsets by timestamp) up to the first at or after to; the high
// watermark where no record is that late.
func replayRanges(client sarama.Client, cfg *config.Config, from, to time.Time) (map[topicPartition]replayRange, error) {
	out := map[topicPartition]replayRange{}
	for _, in := range cfg.Inputs {
		for _, topic := range in.Topics {
			ps, err := client.Partitions(topic)
			if err != nil {
				return nil, fmt.Errorf("input topic %s: %w", topic, err)
			}
			for _, p := range ps {
				hw, err := client.GetOffset(topic, p, sarama.OffsetNewest)
				if err != nil {
					return nil, fmt.Errorf("%s/%d: %w", topic, p, err)
				}
				at := func(t time.Time) (int64, error) {
					o, err := client.GetOffset(topic, p, t.UnixMilli())
					if err != nil {
						return 0, fmt.Errorf("%s/%d: the offset at %s: %w", topic, p, t.Format(time.RFC3339), err)
					}
					if o < 0 || o > hw {
						o = hw
					}
					return o, nil
				}
				start, err := at(from)
				if err != nil {
					return nil, err
				}
				end, err := at(to)
				if err != nil {
					return nil, err
				}
				out[topicPartition{topic, p}] = replayRange{start: start, end: max(end, start)}
			}
		}
	}
	return out, nil
}

func inputNames(cfg *config.Config) []string {
	var out []string
	for _, in := range cfg.Inputs {
		out = append(out, in.Format)
	}
	return out
}

func outputNames(cfg *config.Config) []string {
	var out []string
	for _, o := range cfg.Outputs {
		out = append(out, o.Name)
	}
	return out
}

// replayProgress reads where the replay group stands and logs it.
type replayProgress struct {
	client sarama.Client
	group  string
	parts  map[string][]int32
	ranges map[topicPartition]replayRange
	began  time.Time
	// doneAt is what was replayed before this run (a resumed replay).
	doneAt int64
}

func (r *replayProgress) fetch() error {
	got, err := fetchGroupOffsets(r.client, r.group, r.parts)
	if err != nil {
		return err
	}
	for tp, off := range got {
		rg := r.ranges[tp]
		rg.next = min(max(off, rg.next), rg.end)
		r.ranges[tp] = rg
	}
	return nil
}

// counts are the records of the range committed and those left.
func (r *replayProgress) counts() (done, left int64) {
	for _, rg := range r.ranges {
		done += rg.next - rg.start
		left += rg.end - rg.next
	}
	return done, left
}

// log logs a progress line: records and datapoints, the partitions furthest from their end, and
// the time left at the rate so far.
func (r *replayProgress) log(log hclog.Logger, p *actors.Pipeline) {
	if err := r.fetch(); err != nil {
		log.Warn("reading the replay's progress", "group", r.group, "error", err)
		return
	}
	done, left := r.counts()
	s := p.Stats()
	type behind struct {
		tp   topicPartition
		rg   replayRange
		left int64
	}
	var bs []behind
	finished := 0
	for tp, rg := range r.ranges {
		if rg.next >= rg.end {
			finished++
			continue
		}
		bs = append(bs, behind{tp, rg, rg.end - rg.next})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].left > bs[j].left })
	var pos []string
	for _, b := range bs[:min(len(bs), 4)] {
		pos = append(pos, fmt.Sprintf("%s/%d@%d[%d,%d)", b.tp.topic, b.tp.partition, b.rg.next, b.rg.start, b.rg.end))
	}
	eta := "unknown"
	if secs := time.Since(r.began).Seconds(); done > r.doneAt && secs > 0 {
		perSec := float64(done-r.doneAt) / secs
		eta = time.Duration(float64(left) / perSec * float64(time.Second)).Round(time.Second).String()
	}
	log.Info("progress", "records_done", done, "records_left", left, "records_in", s.RecordsIn,
		"datapoints_in", s.DatapointsIn, "datapoints_out", s.DatapointsOut, "dropped", s.Dropped.Total(),
		"partitions_done", fmt.Sprintf("%d/%d", finished, len(r.ranges)), "behind", strings.Join(pos, " "), "eta", eta)
}
