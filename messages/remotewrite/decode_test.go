package remotewrite

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/proto/prompb"
)

func writeRequest(series int, compressed bool) []byte {
	var wr prompb.WriteRequest
	for i := 0; i < series; i++ {
		wr.Timeseries = append(wr.Timeseries, &prompb.TimeSeries{
			Labels: []*prompb.Label{{Name: "__name__", Value: "http_requests_total"}, {Name: "code", Value: "200"},
				{Name: "instance", Value: "web" + strconv.Itoa(i%97)}, {Name: "job", Value: "api"}},
			Samples: []*prompb.Sample{{Value: float64(i), Timestamp: 1700000000000 + int64(i)}, {Value: float64(i) + 0.5, Timestamp: 1700000015000 + int64(i)}},
		})
	}
	b, err := proto.Marshal(&wr)
	if err != nil {
		panic(err)
	}
	if compressed {
		return snappy.Encode(nil, b)
	}
	return b
}

type flat struct {
	Metric string
	Tags   string
	Ts     int64
	V      float64
}

func flatten(rs *messages.Rows) []flat {
	var out []flat
	for _, p := range rs.Points {
		tags := ""
		for _, t := range p.Tags {
			tags += string(t.Key) + "=" + string(t.Value) + ","
		}
		out = append(out, flat{string(p.Metric), tags, p.Timestamp, p.Value})
	}
	return out
}

func TestParseRoundTrip(t *testing.T) {
	var want []flat
	for i := 0; i < 3; i++ {
		tags := "code=200,instance=web" + strconv.Itoa(i) + ",job=api,"
		want = append(want, flat{"http_requests_total", tags, 1700000000000 + int64(i), float64(i)},
			flat{"http_requests_total", tags, 1700000015000 + int64(i), float64(i) + 0.5})
	}
	var rows messages.Rows
	for _, compressed := range []bool{true, false} {
		for pass := 0; pass < 2; pass++ {
			rows.Reset()
			Parse(&rows, writeRequest(3, compressed), 0)
			if got := flatten(&rows); !reflect.DeepEqual(got, want) || len(rows.Bad) != 0 {
				t.Fatalf("compressed=%v pass %d:\n got %+v (bad %v)\nwant %+v", compressed, pass, got, rows.Bad, want)
			}
		}
	}
}

func TestParseBadInput(t *testing.T) {
	f := func(record []byte, wantPoints int, wantDetail string) {
		t.Helper()
		var rows messages.Rows
		Parse(&rows, record, 0)
		if len(rows.Points) != wantPoints || len(rows.Bad) != 1 || rows.Bad[0].Detail != wantDetail {
			t.Fatalf("%q: %d points, bad %+v; want %d points and %q", record, len(rows.Points), rows.Bad, wantPoints, wantDetail)
		}
	}
	f([]byte("not a protobuf at all, not snappy either"), 0, "neither a WriteRequest nor a snappy-compressed one")
	good := writeRequest(2, false)
	f(good[:len(good)-3], 0, "neither a WriteRequest nor a snappy-compressed one") // truncated: nothing half-decoded
	noName, _ := proto.Marshal(&prompb.WriteRequest{Timeseries: []*prompb.TimeSeries{
		{Labels: []*prompb.Label{{Name: "job", Value: "x"}}, Samples: []*prompb.Sample{{Value: 1, Timestamp: 1}}},
		{Labels: []*prompb.Label{{Name: "__name__", Value: "up"}}, Samples: []*prompb.Sample{{Value: 1, Timestamp: 2}}},
	}})
	f(snappy.Encode(nil, noName), 1, "series without a __name__ label")
	var rows messages.Rows
	Parse(&rows, nil, 0)
	if len(rows.Points)+len(rows.Bad) != 0 {
		t.Fatal("an empty record produced rows")
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	input := writeRequest(500, true)
	var rows messages.Rows
	Parse(&rows, input, 0)
	n := testing.AllocsPerRun(100, func() {
		rows.Reset()
		Parse(&rows, input, 0)
	})
	if n != 0 || len(rows.Points) != 1000 {
		t.Fatalf("%.1f allocs, %d points; want 0, 1000", n, len(rows.Points))
	}
}

func FuzzParse(f *testing.F) {
	f.Add(writeRequest(2, true))
	f.Add(writeRequest(2, false))
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var rows messages.Rows
		Parse(&rows, b, 0)
		for _, p := range rows.Points {
			if len(p.Metric) == 0 {
				t.Fatalf("datapoint without a name from %x", b)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	input := writeRequest(500, true)
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	var rows messages.Rows
	for b.Loop() {
		rows.Reset()
		Parse(&rows, input, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/sample")
}

// TestEmptyLabelValueIsNoLabel: a label with an empty value is no label (Prometheus' data model),
// in remote write 1.0 and 2.0 as in the text format.
func TestEmptyLabelValueIsNoLabel(t *testing.T) {
	wr := prompb.WriteRequest{Timeseries: []*prompb.TimeSeries{{
		Labels:  []*prompb.Label{{Name: "__name__", Value: "up"}, {Name: "app_version", Value: ""}, {Name: "job", Value: "api"}},
		Samples: []*prompb.Sample{{Value: 1, Timestamp: 1700000000000}},
	}}}
	b, err := proto.Marshal(&wr)
	if err != nil {
		t.Fatal(err)
	}
	var e V2Encoder
	v2, ok := e.Transcode(nil, b)
	if !ok {
		t.Fatal("transcode failed")
	}
	for name, rec := range map[string][]byte{"1.0": snappy.Encode(nil, b), "2.0": v2} {
		var rows messages.Rows
		Parse(&rows, rec, 0)
		if got, want := flatten(&rows), []flat{{"up", "job=api,", 1700000000000, 1}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", name, got, want)
		}
	}
}
