// encoder_test.go is longer than ~400 lines: the table tests of the encoder, its zero-allocation
// checks and BenchmarkBatchEncoder share one set of generated inputs and checkers.

package encode

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/glob"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/shard"
	"github.com/sluicehq/sluice/messages/validate"
	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/parse/influx"
	"github.com/sluicehq/sluice/parse/opentsdb"
	"github.com/sluicehq/sluice/proto/prompb"
	"github.com/sluicehq/sluice/relabel"
)

const encShards, encWriters = 16, 3

// testBatch fills a RawBatch with records of realistic OpenTSDB lines: valid ones over ~1500
// series, plus one unparseable, one denylisted and one too-old line per record.
func testBatch(t testing.TB, records, linesPerRecord int) (*messages.RawBatch, int) {
	return testBatchSeries(t, records, linesPerRecord, 0)
}

// testBatchSeries is testBatch with line n of series n mod series, in order, as agents flush
// their series one after another (series 0: testBatch's interleaving of ~1500 series).
func testBatchSeries(t testing.TB, records, linesPerRecord, series int) (*messages.RawBatch, int) {
	pool := messages.NewRawBatchPool(1, 4<<20, records)
	b, _ := pool.TryGet()
	b.Topic = "in"
	now := time.Now().Unix()
	valid := 0
	for r := 0; r < records; r++ {
		var sb strings.Builder
		for i := 0; i < linesPerRecord; i++ {
			n := r*linesPerRecord + i
			metric, host, cpu := n%7, n%53, n%4
			if series > 0 {
				s := n % series
				metric, host, cpu = (s/4)%7, s/28, s%4
			}
			sb.WriteString("put sys.cpu." + strconv.Itoa(metric) + " " + strconv.FormatInt(now-int64(n%50), 10) + " " +
				strconv.Itoa(n) + " host=web" + strconv.Itoa(host) + " dc=us-east-1 cpu=" + strconv.Itoa(cpu) + "\n")
			valid++
		}
		sb.WriteString("put broken\nput test.debug.x " + strconv.FormatInt(now, 10) + " 1 a=b\n")
		sb.WriteString("put sys.cpu.0 1000 1 a=b\n")
		if !b.Append(int64(r), now*1000, []byte(sb.String())) {
			t.Fatal("test batch too small")
		}
	}
	return b, valid
}

// testEnc is an encoder with the decoder a test feeds it.
type testEnc struct {
	*Encoder
	decode DecodeFunc
}

func testEncoder(t testing.TB) *testEnc {
	dl, err := glob.Compile([]string{"test.**"})
	if err != nil {
		t.Fatal(err)
	}
	e := New(0, testLayout(t, encWriters, nil, encShards), nil)
	e.Judge(validate.New(validate.Limits{MaxMetricLength: 256, MaxTagKeyLength: 128, MaxTagValueLength: 256,
		MaxTags: 16, MaxAge: 24 * time.Hour, MaxFuture: 10 * time.Minute}), dl)
	return &testEnc{e, decodeOpenTSDB}
}

// decodeOpenTSDB is the OpenTSDB decoder as the pipeline wires it (lines carry their timestamps).
func decodeOpenTSDB(dst *messages.Rows, record []byte, _ int64) { opentsdb.Parse(dst, record, 0) }

// testLayout lays out outputs "o0", "o1", ... with the given shard counts and routes.
func testLayout(t testing.TB, writers int, routes []*config.Route, shards ...int) *Layout {
	t.Helper()
	var names []string
	for i := range shards {
		names = append(names, fmt.Sprint("o", i))
	}
	l, err := NewLayout(names, shards, nil, routes, writers)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// encodeAll runs the encoder over b the way a worker does, giving each filled ShardBatch to sink.
func encodeAll(e *testEnc, pool *messages.Pool[*messages.ShardBatch], b *messages.RawBatch, now int64, sink func(int, *messages.ShardBatch)) {
	e.Load(b, e.decode, now)
	for !e.Done() {
		owner := e.NextOwner()
		out, ok := pool.TryGet()
		if !ok {
			panic("shard pool empty in test")
		}
		e.Fill(out, owner)
		sink(owner, out)
	}
}

func TestBatchEncoderOutput(t *testing.T) {
	b, valid := testBatch(t, 20, 100)
	e := testEncoder(t)
	pool := messages.NewShardBatchPool(64, 16<<10) // small batches: series get split across them
	samples := 0
	seen := map[int]bool{}
	encodeAll(e, pool, b, time.Now().UnixMilli(), func(owner int, sb *messages.ShardBatch) {
		defer sb.Release()
		prev := uint32(0)
		for _, seg := range sb.Segments {
			if shard.Owner(int(seg.Shard), encShards, encWriters) != owner {
				t.Fatalf("segment for shard %d in a batch for writer %d", seg.Shard, owner)
			}
			if seg.Shard < prev {
				t.Fatalf("segments not sorted by shard: %d after %d", seg.Shard, prev)
			}
			prev = seg.Shard
			var wr prompb.WriteRequest
			if err := proto.Unmarshal(sb.Data(seg), &wr); err != nil {
				t.Fatalf("segment does not decode: %v", err)
			}
			for _, ts := range wr.Timeseries {
				var name string
				var tags []messages.Tag
				for _, l := range ts.Labels {
					if l.Name == "__name__" {
						name = l.Value
					} else {
						tags = append(tags, messages.Tag{Key: []byte(l.Name), Value: []byte(l.Value)})
					}
				}
				dp := messages.Datapoint{Metric: []byte(name), Tags: tags}
				if got := uint32(shard.Jump(shard.Hash(shard.AppendSeriesKey(nil, &dp)), encShards)); got != seg.Shard {
					t.Fatalf("series %s%v in segment for shard %d, belongs to %d", name, tags, seg.Shard, got)
				}
				for i, s := range ts.Samples {
					if i > 0 && s.Timestamp < ts.Samples[i-1].Timestamp {
						t.Fatalf("samples of %s not in time order", name)
					}
					seen[int(s.Value)] = true
					samples++
				}
			}
		}
	})
	if samples != valid || len(seen) != valid {
		t.Fatalf("encoded %d samples (%d distinct), want %d", samples, len(seen), valid)
	}
	if e.drops[messages.ReasonUnparseable] != 20 || e.drops[messages.ReasonDenylisted] != 20 || e.drops[messages.ReasonTooOld] != 20 {
		t.Fatalf("drops %v", e.drops)
	}
	if e.in != int64(valid+60) {
		t.Fatalf("in = %d, want %d", e.in, valid+60)
	}
	if pool.InUse() != 0 {
		t.Fatal("test leaked shard batches")
	}
}

// TestBatchEncoderAllocatesNothing asserts the design's rule: in steady state the worker's hot
// path (decode, validate, denylist, shard, sort, encode) makes no heap allocation at all.
func TestBatchEncoderAllocatesNothing(t *testing.T) {
	b, _ := testBatch(t, 20, 100)
	e := testEncoder(t)
	pool := messages.NewShardBatchPool(64, 64<<10)
	now := time.Now().UnixMilli()
	release := func(_ int, sb *messages.ShardBatch) { sb.Release() }
	encodeAll(e, pool, b, now, release) // grow the reusable storage once
	if n := testing.AllocsPerRun(20, func() { encodeAll(e, pool, b, now, release) }); n != 0 {
		t.Fatalf("encoding a 2000-line batch allocates %.1f times; want 0", n)
	}
}

// benchRelabel is how many of tenRules BenchmarkBatchEncoder applies as the input's relabel
// rules: run the same benchmark with -relabel 0 and -relabel 10 (alternating, benchstat) to see
// what the rules cost a steady set of series.
var benchRelabel = flag.Int("relabel", 0, "BenchmarkBatchEncoder: apply this many of the ten benchmark relabel rules (0-10)")

// BenchmarkBatchEncoder runs the worker's hot path over a small batch and over one the size of
// the default batch_bytes (1 MiB, ~14k lines), where sorting costs most.
func BenchmarkBatchEncoder(b *testing.B) {
	for _, bc := range []struct {
		name            string
		records, series int
	}{{"2k-lines", 20, 0}, {"14k-lines", 140, 0}, {"14k-lines-10k-series", 140, 10000}} {
		b.Run(bc.name, func(b *testing.B) {
			raw, valid := testBatchSeries(b, bc.records, 100, bc.series)
			e := testEncoder(b)
			if n := *benchRelabel; n > 0 {
				e.Relabel(relabeling(b, [][]relabel.Spec{tenRules()[:min(n, 10)]}, nil), 0)
			}
			pool := messages.NewShardBatchPool(256, 64<<10)
			now := time.Now().UnixMilli()
			release := func(_ int, sb *messages.ShardBatch) { sb.Release() }
			encodeAll(e, pool, raw, now, release) // the series cache warm, as in steady state
			b.SetBytes(int64(raw.Bytes()))
			b.ReportAllocs()
			for b.Loop() {
				encodeAll(e, pool, raw, now, release)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*valid), "ns/datapoint")
		})
		// The decoder alone over the same records, for the encoder's cost relative to decoding.
		b.Run(bc.name+"/decode-only", func(b *testing.B) {
			raw, valid := testBatchSeries(b, bc.records, 100, bc.series)
			var rows messages.Rows
			b.SetBytes(int64(raw.Bytes()))
			b.ReportAllocs()
			for b.Loop() {
				for i := 0; i < raw.Len(); i++ {
					rows.Reset()
					decodeOpenTSDB(&rows, raw.Value(i), 0)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*valid), "ns/datapoint")
		})
	}
}

// TestBatchEncoderRoutes: the first matching route decides; a double-write route encodes a
// datapoint once per output, each on the shard its series hashes to within that output; a
// datapoint no route matches is counted as unrouted.
func TestBatchEncoderRoutes(t *testing.T) {
	got, unrouted := routeAll(t, nil)
	want := map[string][]string{"ads.x": {"o0"}, "ads.y.z": {"o0"}, "both.a": {"o0", "o1"}, "other.b": {"o1"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routed %v, want %v", got, want)
	}
	if unrouted != 1 {
		t.Fatalf("unrouted %d, want 1", unrouted)
	}
}

// TestBatchEncoderOnly: the layout's Only (sluice replay -match) takes a name it does not match
// to no route, before the routes are tried; the routes decide the rest as before.
func TestBatchEncoderOnly(t *testing.T) {
	only, err := glob.Compile([]string{"both.*", "other.**", "none.c"})
	if err != nil {
		t.Fatal(err)
	}
	got, unrouted := routeAll(t, only)
	want := map[string][]string{"both.a": {"o0", "o1"}, "other.b": {"o1"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routed %v, want %v", got, want)
	}
	if unrouted != 3 { // ads.x and ads.y.z by Only, none.c by the routes
		t.Fatalf("unrouted %d, want 3", unrouted)
	}
}

// routeAll encodes five names through three routes over two outputs (with only as the layout's
// Only) and returns the outputs each name reached, checking each series' shard, and the unrouted.
func routeAll(t *testing.T, only *glob.Matcher) (map[string][]string, int64) {
	t.Helper()
	routes := []*config.Route{
		{Match: []string{"ads.**"}, Outputs: []string{"o0"}},
		{Match: []string{"both.*"}, Outputs: []string{"o0", "o1"}},
		{Match: []string{"ads.x", "other.**"}, Outputs: []string{"o1"}}, // ads.x went to the first route
	}
	e := testEncoder(t)
	e.topo = testLayout(t, 2, routes, 4, 3)
	e.topo.Only = only
	now := time.Now().Unix()
	b, _ := messages.NewRawBatchPool(1, 1<<16, 16).TryGet()
	lines := ""
	for i, m := range []string{"ads.x", "ads.y.z", "both.a", "other.b", "none.c"} {
		lines += fmt.Sprintf("put %s %d %d host=h%d\n", m, now, i, i)
	}
	b.Topic = "in"
	b.Append(0, now*1000, []byte(lines))
	pool := messages.NewShardBatchPool(8, 16<<10)
	got := map[string][]string{} // metric → outputs
	encodeAll(e, pool, b, now*1000, func(owner int, sb *messages.ShardBatch) {
		defer sb.Release()
		for _, seg := range sb.Segments {
			o := e.topo.Outputs[e.topo.WriterOutput[owner]]
			if int(seg.Shard) < o.Offset || int(seg.Shard) >= o.Offset+o.Shards {
				t.Fatalf("shard %d in a batch for writer %d of output %s", seg.Shard, owner, o.Name)
			}
			var wr prompb.WriteRequest
			if err := proto.Unmarshal(sb.Data(seg), &wr); err != nil {
				t.Fatal(err)
			}
			for _, ts := range wr.Timeseries {
				var dp messages.Datapoint
				for _, l := range ts.Labels {
					if l.Name == "__name__" {
						dp.Metric = []byte(l.Value)
					} else {
						dp.Tags = append(dp.Tags, messages.Tag{Key: []byte(l.Name), Value: []byte(l.Value)})
					}
				}
				want := o.Offset + shard.Jump(shard.Hash(shard.AppendSeriesKey(nil, &dp)), o.Shards)
				if int(seg.Shard) != want {
					t.Errorf("%s on shard %d, want %d", dp.Metric, seg.Shard, want)
				}
				got[string(dp.Metric)] = append(got[string(dp.Metric)], o.Name)
			}
		}
	})
	return got, int64(e.drops[messages.ReasonUnrouted])
}

// decodeSeries returns every series of the ShardBatches the encoder fills from b, as
// "name{k=v,...}" → samples, with each series' label names in the order they were encoded.
func decodeSeries(t *testing.T, e *testEnc, b *messages.RawBatch, now int64) map[string][]float64 {
	t.Helper()
	pool := messages.NewShardBatchPool(16, 64<<10)
	got := map[string][]float64{}
	encodeAll(e, pool, b, now, func(_ int, sb *messages.ShardBatch) {
		defer sb.Release()
		for _, seg := range sb.Segments {
			var wr prompb.WriteRequest
			if err := proto.Unmarshal(sb.Data(seg), &wr); err != nil {
				t.Fatal(err)
			}
			for _, ts := range wr.Timeseries {
				var k strings.Builder
				for i, l := range ts.Labels {
					if i > 0 && l.Name < ts.Labels[i-1].Name {
						t.Errorf("labels not sorted: %v", ts.Labels)
					}
					fmt.Fprintf(&k, "%s=%q,", l.Name, l.Value)
				}
				for _, s := range ts.Samples {
					got[k.String()] = append(got[k.String()], s.Value)
				}
			}
		}
	})
	return got
}

func oneRecord(t testing.TB, lines string) *messages.RawBatch {
	t.Helper()
	b, _ := messages.NewRawBatchPool(1, 1<<16, 16).TryGet()
	b.Topic = "in"
	if !b.Append(0, time.Now().UnixMilli(), []byte(lines)) {
		t.Fatal("record too large")
	}
	return b
}

// TestBatchEncoderSeriesIdentity: series whose names and values would run together in a
// separator-joined key (a tag value may hold any UTF-8, control bytes included) stay apart.
func TestBatchEncoderSeriesIdentity(t *testing.T) {
	e := testEncoder(t)
	now := time.Now()
	ts := now.Unix()
	// OpenTSDB cannot carry a 0x00 in a value, so the rows are built directly.
	b := oneRecord(t, fmt.Sprintf("put m %d 1 k=a\nput m %d 2 k=a\n", ts, ts))
	e.decode = func(dst *messages.Rows, _ []byte, _ int64) {
		for i, tags := range [][]string{{"k", "a\x00b\x01c"}, {"k", "a", "b", "c"}, {"k", "a\x00b\x01c"}} {
			mark := dst.TagsMark()
			for j := 0; j < len(tags); j += 2 {
				dst.AddTag([]byte(tags[j]), []byte(tags[j+1]))
			}
			dp := dst.NextPoint()
			dp.Metric, dp.Tags, dp.Timestamp, dp.Value = []byte("m"), dst.TagsSince(mark), ts*1000, float64(i)
		}
	}
	got := decodeSeries(t, e, b, now.UnixMilli())
	want := map[string][]float64{
		`__name__="m",k="a\x00b\x01c",`: {0, 2},
		`__name__="m",b="c",k="a",`:     {1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
}

// TestBatchEncoderCacheFollowsReload: the series cache keeps verdicts from batch to batch, and a
// reloaded denylist or validator (new pointers, as Reload stores them) takes effect at once.
func TestBatchEncoderCacheFollowsReload(t *testing.T) {
	e := testEncoder(t)
	now := time.Now()
	lines := fmt.Sprintf("put a.x %d 1 host=h\nput b.x %d 2 host=h\n", now.Unix(), now.Unix())
	count := func() int {
		n := 0
		for _, v := range decodeSeries(t, e, oneRecord(t, lines), now.UnixMilli()) {
			n += len(v)
		}
		return n
	}
	if n := count(); n != 2 {
		t.Fatalf("first batch: %d samples, want 2", n)
	}
	if n := count(); n != 2 || len(e.series) != 2 {
		t.Fatalf("second batch: %d samples and %d cached series, want 2 and 2", n, len(e.series))
	}
	dl, err := glob.Compile([]string{"a.*"})
	if err != nil {
		t.Fatal(err)
	}
	e.denylist = dl
	if n := count(); n != 1 || e.drops[messages.ReasonDenylisted] != 1 {
		t.Fatalf("after a denylist reload: %d samples, %d denylisted; want 1 and 1", n, e.drops[messages.ReasonDenylisted])
	}
	e.validator = validate.New(validate.Limits{MaxMetricLength: 2, MaxTagKeyLength: 128, MaxTagValueLength: 256,
		MaxTags: 16, MaxAge: time.Hour, MaxFuture: time.Minute})
	if n := count(); n != 0 || e.drops[messages.ReasonInvalidName] != 2 {
		t.Fatalf("after a validation reload: %d samples, drops %v; want 0 and two invalid_name", n, e.drops)
	}
}

// TestBatchEncoderCacheBounded: a worker's series cache never holds much more than
// MaxCachedSeries; past it, it starts afresh and every datapoint is still encoded.
func TestBatchEncoderCacheBounded(t *testing.T) {
	e := testEncoder(t)
	pool := messages.NewShardBatchPool(256, 64<<10)
	now := time.Now()
	samples := 0
	for batch := 0; batch < 4; batch++ {
		b, _ := messages.NewRawBatchPool(1, 4<<20, 1<<10).TryGet()
		b.Topic = "in"
		for r := 0; r < 100; r++ {
			var sb strings.Builder
			for i := 0; i < 100; i++ {
				fmt.Fprintf(&sb, "put m %d 1 id=%d-%d-%d\n", now.Unix(), batch, r, i)
			}
			b.Append(int64(r), now.UnixMilli(), []byte(sb.String()))
		}
		encodeAll(e, pool, b, now.UnixMilli(), func(_ int, sb *messages.ShardBatch) { samples += sb.Samples(); sb.Release() })
		if len(e.series) > MaxCachedSeries+10000 {
			t.Fatalf("batch %d: %d series cached, bound %d + one batch", batch, len(e.series), MaxCachedSeries)
		}
	}
	if samples != 40000 {
		t.Fatalf("%d samples encoded, want 40000", samples)
	}
}

// TestBatchEncoderPrometheusMappingSorts: name mapping can change the order of tag keys ('.'
// sorts before '_'); labels are sorted after mapping.
func TestBatchEncoderPrometheusMappingSorts(t *testing.T) {
	e := testEncoder(t)
	e.mapping = formats.MappingPrometheus
	now := time.Now()
	got := decodeSeries(t, e, oneRecord(t, fmt.Sprintf("put sys.cpu %d 1 a.z=1 a_b=2\nput sys.cpu %d 2 a.z=1 a_b=2\n", now.Unix(), now.Unix())), now.UnixMilli())
	want := map[string][]float64{`__name__="sys_cpu",a_b="2",a_z="1",`: {1, 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
}

// TestBatchEncoderSharedTags: the fields of an influx line share their tags (sorted and keyed
// once); lines that name the same tags in another order are the same series.
func TestBatchEncoderSharedTags(t *testing.T) {
	e := testEncoder(t)
	p, _ := influx.New("s", "_", false)
	e.decode = p.Parse
	now := time.Now()
	ts := now.Unix()
	got := decodeSeries(t, e, oneRecord(t, fmt.Sprintf("cpu,b=2,a=1 x=1,y=2 %d\ncpu,a=1,b=2 x=3 %d\ncpu,a=1 x=4 %d\n", ts, ts, ts)), now.UnixMilli())
	want := map[string][]float64{
		`__name__="cpu_x",a="1",b="2",`: {1, 3},
		`__name__="cpu_y",a="1",b="2",`: {2},
		`__name__="cpu_x",a="1",`:       {4},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
}
