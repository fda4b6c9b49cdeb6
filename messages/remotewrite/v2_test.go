package remotewrite

import (
	"fmt"
	"reflect"
	"strconv"
	"testing"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/proto/prompb"
)

// TestV2RoundTrip: a 1.0 WriteRequest transcoded to 2.0 decodes to the same datapoints (raw and
// snappy), its symbols start with "" and hold each string once, and transcoding again reuses
// the encoder with the same result.
func TestV2RoundTrip(t *testing.T) {
	v1 := writeRequest(200, false)
	var want messages.Rows
	Parse(&want, v1, 0)
	var e V2Encoder
	v2, ok := e.Transcode(nil, v1)
	if !ok || !IsV2(v2) || IsV2(v1) {
		t.Fatalf("transcode ok=%v, IsV2(v2)=%v, IsV2(v1)=%v", ok, IsV2(v2), IsV2(v1))
	}
	var syms []string
	walk(v2, func(num protowire.Number, _ protowire.Type, v []byte) bool {
		if num == 4 {
			syms = append(syms, string(v))
		}
		return true
	})
	seen := map[string]bool{}
	for _, s := range syms {
		if seen[s] {
			t.Fatalf("symbol %q twice", s)
		}
		seen[s] = true
	}
	// "", __name__, http_requests_total, code, 200, instance, 97 hosts, job, api.
	if len(syms) != 8+97 || syms[0] != "" {
		t.Fatalf("%d symbols, first %q; want 105 starting with \"\"", len(syms), syms[0])
	}
	for _, rec := range [][]byte{v2, snappy.Encode(nil, v2)} {
		var got messages.Rows
		Parse(&got, rec, 0)
		if !reflect.DeepEqual(flatten(&got), flatten(&want)) || len(got.Bad) != 0 {
			t.Fatalf("2.0 decodes to %d points (bad %v), want the 1.0 request's %d", len(got.Points), got.Bad, len(want.Points))
		}
	}
	again, _ := e.Transcode(nil, v1)
	if string(again) != string(v2) {
		t.Fatal("a reused encoder transcodes differently")
	}
	if _, ok := e.Transcode(nil, v1[:len(v1)-5]); ok {
		t.Fatal("a truncated request transcoded")
	}
	var bad messages.Rows
	Parse(&bad, append(append([]byte(nil), v2[:len(v2)/2]...), 0xff), 0)
	if len(bad.Points) != 0 || len(bad.Bad) != 1 {
		t.Fatalf("a corrupt 2.0 request gave %d points, %d bad", len(bad.Points), len(bad.Bad))
	}
}

func TestV2TranscodeAllocatesNothing(t *testing.T) {
	v1 := writeRequest(500, false)
	var e V2Encoder
	buf, _ := e.Transcode(nil, v1)
	if n := testing.AllocsPerRun(20, func() { buf, _ = e.Transcode(buf[:0], v1) }); n != 0 {
		t.Fatalf("%v allocations per transcode", n)
	}
}

func BenchmarkV2Transcode(b *testing.B) {
	v1 := writeRequest(1000, false)
	var e V2Encoder
	buf, _ := e.Transcode(nil, v1)
	b.ReportAllocs()
	b.SetBytes(int64(len(v1)))
	for b.Loop() {
		buf, _ = e.Transcode(buf[:0], v1)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2000, "ns/sample")
	b.ReportMetric(float64(len(buf))/float64(len(v1)), "v2/v1-bytes")
}

// TestV2SplitsSamplesAndHistograms: a series with both float samples and native histograms (and
// metadata) becomes two 2.0 TimeSeries, one of each, both with the metadata, as 2.0 requires.
func TestV2SplitsSamplesAndHistograms(t *testing.T) {
	labels := AppendLabels(nil, []byte("m"), nil)
	meta := AppendMetadata(nil, messages.TypeGauge, []byte("bytes"), []byte("Help."))
	hist := []byte{0x08, 0x02}
	var body []byte
	body = append(append(body, labels...), meta...)
	body = AppendSample(body, 1, 10)
	body = AppendHistogram(body, hist, 20)
	body = AppendSample(body, 2, 30)
	req := AppendSeriesLabels(nil, len(body), body)
	var e V2Encoder
	out, ok := e.Transcode(nil, req)
	if !ok {
		t.Fatal("transcode failed")
	}
	var kinds []string
	walk(out, func(num protowire.Number, _ protowire.Type, ts []byte) bool {
		if num != 5 {
			return true
		}
		k := ""
		walk(ts, func(n protowire.Number, _ protowire.Type, _ []byte) bool {
			k += map[protowire.Number]string{1: "L", 2: "S", 3: "H", 5: "M"}[n]
			return true
		})
		kinds = append(kinds, k)
		return true
	})
	if fmt.Sprint(kinds) != "[LSSM LHM]" {
		t.Fatalf("2.0 series fields %v, want [LSSM LHM]", kinds)
	}
	var rows messages.Rows
	Parse(&rows, out, 0)
	if len(rows.Points) != 3 || len(rows.Bad) != 0 {
		t.Fatalf("%d points back, bad %+v", len(rows.Points), rows.Bad)
	}
	for i := range rows.Points {
		x := rows.ExtraOf(&rows.Points[i])
		if x == nil || x.Type != messages.TypeGauge || string(x.Unit) != "bytes" || string(x.Help) != "Help." {
			t.Fatalf("point %d: metadata %+v", i, x)
		}
		if isHist := x.Histogram != nil; isHist != (rows.Points[i].Timestamp == 20) || isHist && string(x.Histogram) != string(hist) {
			t.Fatalf("point %d at %d: histogram %x", i, rows.Points[i].Timestamp, x.Histogram)
		}
	}
}

// segmentsForBuild are what a writer's shard holds at a flush on agent-shaped input: segs
// segments from the workers, each with one sample of every one of series series (influx
// field names, five labels), at its own timestamp, so each merged series has segs samples.
func segmentsForBuild(segs, series int) [][]byte {
	out := make([][]byte, segs)
	for s := range out {
		var wr prompb.WriteRequest
		for i := 0; i < series; i++ {
			wr.Timeseries = append(wr.Timeseries, &prompb.TimeSeries{
				Labels: []*prompb.Label{{Name: "__name__", Value: "sys_cpu_usage_user"}, {Name: "dc", Value: "us-east-1"},
					{Name: "env", Value: "prod"}, {Name: "host", Value: "web" + strconv.Itoa(i)}, {Name: "service", Value: "svc" + strconv.Itoa(i%20)}},
				Samples: []*prompb.Sample{{Value: float64(i) * 0.25, Timestamp: 1700000000000 + int64(s)}},
			})
		}
		b, err := proto.Marshal(&wr)
		if err != nil {
			panic(err)
		}
		out[s] = b
	}
	return out
}

// BenchmarkRequestBuild is a remote-write writer's work per flush: merging the segments into
// requests and compressing them, for protocol 1.0 and 2.0 (which also transcodes each request).
func BenchmarkRequestBuild(b *testing.B) {
	for _, segs := range []int{1, 8} {
		in := segmentsForBuild(segs, 1000)
		for _, proto := range []string{"1.0", "2.0"} {
			b.Run(fmt.Sprintf("samples-per-series=%d/protocol=%s", segs, proto), func(b *testing.B) {
				var m Merger
				var e V2Encoder
				var v2, out []byte
				b.ReportAllocs()
				for b.Loop() {
					for _, s := range in {
						m.Add(s)
					}
					m.Build(2000, 4<<20, func(req []byte, _ int) {
						if proto == "2.0" {
							v2, _ = e.Transcode(v2[:0], req)
							req = v2
						}
						out = Compress(out, req)
					})
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(segs*1000), "ns/sample")
			})
		}
	}
}
