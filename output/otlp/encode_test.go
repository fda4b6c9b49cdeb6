package otlp

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/parse/formats"
)

// TestEncodeReadsBackAsSent: series encoded as remote-write segments, merged as a writer merges
// them, encoded as an OTLP request and read back by Sluice's own OTLP input (names kept) come out
// as they went in: names, labels, timestamps, values, and the staleness marker bit for bit.
func TestEncodeReadsBackAsSent(t *testing.T) {
	type point struct {
		series string
		ts     int64
		value  float64
	}
	var in []point
	var seg []byte
	for s := range 20 {
		metric := []byte(fmt.Sprintf("otlp_test_m%d", s%4))
		tags := []messages.Tag{{Key: []byte("host"), Value: []byte(fmt.Sprintf("h%d", s))}, {Key: []byte("zone"), Value: []byte("z1")}}
		var samples []byte
		for i := range 5 {
			ts, v := int64(1_700_000_000_000+i*1000), float64(s*10+i)+0.25
			if s == 3 && i == 4 {
				v = math.Float64frombits(messages.StaleNaN)
			}
			samples = remotewrite.AppendSample(samples, v, ts)
			in = append(in, point{fmt.Sprintf("%s{host=h%d,zone=z1}", metric, s), ts, v})
		}
		seg = remotewrite.AppendSeriesHeader(seg, remotewrite.LabelsSize(metric, tags)+len(samples), metric, tags)
		seg = append(seg, samples...)
	}
	var m remotewrite.Merger
	if !m.Add(seg) {
		t.Fatal("the merger refused the segment")
	}
	var reqs [][]byte
	m.Build(1000, 1<<20, func(req []byte, _ int) { reqs = append(reqs, slices.Clone(req)) })
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	var e Encoder
	body, n, ok := e.Encode(nil, reqs[0])
	if !ok || n != len(in) {
		t.Fatalf("Encode: ok %v, %d points, want %d", ok, n, len(in))
	}
	dec, err := formats.New("otlp", formats.Options{OTLPTranslation: "keep", OTLPEncoding: "otlp_proto"})
	if err != nil {
		t.Fatal(err)
	}
	var rows messages.Rows
	dec.Decode(&rows, body, 0)
	if len(rows.Bad) != 0 {
		t.Fatalf("our OTLP input refused the request: %+v", rows.Bad)
	}
	var out []point
	for _, p := range rows.Points {
		key := string(p.Metric) + "{"
		for i, tg := range p.Tags {
			if i > 0 {
				key += ","
			}
			key += string(tg.Key) + "=" + string(tg.Value)
		}
		out = append(out, point{key + "}", p.Timestamp, p.Value})
	}
	less := func(a, b point) int {
		if c := cmpString(a.series, b.series); c != 0 {
			return c
		}
		return int(a.ts - b.ts)
	}
	slices.SortFunc(in, less)
	slices.SortFunc(out, less)
	if len(out) != len(in) {
		t.Fatalf("read back %d points, sent %d", len(out), len(in))
	}
	for i := range in {
		if in[i].series != out[i].series || in[i].ts != out[i].ts || math.Float64bits(in[i].value) != math.Float64bits(out[i].value) {
			t.Fatalf("point %d: sent %+v, read back %+v", i, in[i], out[i])
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestEncodeAllocatesNothing: encoding a request into reused buffers allocates nothing.
func TestEncodeAllocatesNothing(t *testing.T) {
	metric := []byte("m")
	tags := []messages.Tag{{Key: []byte("host"), Value: []byte("h1")}}
	samples := remotewrite.AppendSample(nil, 1.5, 1_700_000_000_000)
	req := remotewrite.AppendSeriesHeader(nil, remotewrite.LabelsSize(metric, tags)+len(samples), metric, tags)
	req = append(req, samples...)
	var e Encoder
	buf, _, _ := e.Encode(nil, req)
	if n := testing.AllocsPerRun(100, func() { buf, _, _ = e.Encode(buf[:0], req) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}
