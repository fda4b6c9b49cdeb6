package remotewrite

import (
	"math"
	"testing"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/proto/prompb"
)

type series struct {
	metric  string
	tags    []string
	samples [][2]float64 // value, timestamp
}

func encode(ss []series) []byte {
	var out []byte
	for _, s := range ss {
		var tags []messages.Tag
		for i := 0; i+1 < len(s.tags); i += 2 {
			tags = append(tags, messages.Tag{Key: []byte(s.tags[i]), Value: []byte(s.tags[i+1])})
		}
		body := LabelsSize([]byte(s.metric), tags)
		for _, sm := range s.samples {
			body += SampleSize(int64(sm[1]))
		}
		before := len(out)
		out = AppendSeriesHeader(out, body, []byte(s.metric), tags)
		for _, sm := range s.samples {
			out = AppendSample(out, sm[0], int64(sm[1]))
		}
		if got := len(out) - before; got != SeriesSize(body) {
			panic("SeriesSize disagrees with what was appended")
		}
	}
	return out
}

func TestEncodeDecodesWithGeneratedCode(t *testing.T) {
	in := []series{
		// Tags sorted by key; "__name__" must land in sorted position: after "A", before "host".
		{"sys.cpu.user", []string{"A", "x", "host", "web01", "zone", "z1"}, [][2]float64{{42.5, 1700000000000}, {-1, 1700000001000}}},
		{"up", nil, [][2]float64{{1, 5}}},
		{"neg.ts", []string{"a", "b"}, [][2]float64{{math.Inf(-1), -1000}}},
	}
	raw := encode(in)
	compressed := Compress(nil, raw)
	decompressed, err := snappy.Decode(nil, compressed)
	if err != nil {
		t.Fatalf("snappy: %v", err)
	}
	var wr prompb.WriteRequest
	if err := proto.Unmarshal(decompressed, &wr); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if len(wr.Timeseries) != len(in) {
		t.Fatalf("got %d series, want %d", len(wr.Timeseries), len(in))
	}
	wantLabels := [][]string{
		{"A", "x", "__name__", "sys.cpu.user", "host", "web01", "zone", "z1"},
		{"__name__", "up"},
		{"__name__", "neg.ts", "a", "b"},
	}
	for i, ts := range wr.Timeseries {
		var got []string
		for _, l := range ts.Labels {
			got = append(got, l.Name, l.Value)
		}
		if len(got) != len(wantLabels[i]) {
			t.Fatalf("series %d labels %v, want %v", i, got, wantLabels[i])
		}
		for j := range got {
			if got[j] != wantLabels[i][j] {
				t.Fatalf("series %d labels %v, want %v", i, got, wantLabels[i])
			}
		}
		if len(ts.Samples) != len(in[i].samples) {
			t.Fatalf("series %d: %d samples, want %d", i, len(ts.Samples), len(in[i].samples))
		}
		for j, s := range ts.Samples {
			if s.Value != in[i].samples[j][0] || s.Timestamp != int64(in[i].samples[j][1]) {
				t.Fatalf("series %d sample %d = %v@%d, want %v", i, j, s.Value, s.Timestamp, in[i].samples[j])
			}
		}
	}
}

func TestAppendAllocatesNothing(t *testing.T) {
	tags := []messages.Tag{{Key: []byte("host"), Value: []byte("web01")}}
	buf := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() {
		b := buf[:0]
		body := LabelsSize([]byte("m"), tags) + SampleSize(1700000000000)
		b = AppendSeriesHeader(b, body, []byte("m"), tags)
		b = AppendSample(b, 1, 1700000000000)
		_ = Compress(buf[2048:2048], b)
	})
	if n != 0 {
		t.Fatalf("encoding allocates %.1f times", n)
	}
}
