package encode

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
)

// tsFields returns, for every TimeSeries of the segments, the field numbers it holds in order.
func tsFields(t *testing.T, seg []byte) [][]protowire.Number {
	t.Helper()
	var out [][]protowire.Number
	for len(seg) > 0 {
		_, _, tl := protowire.ConsumeTag(seg)
		ts, n := protowire.ConsumeBytes(seg[tl:])
		if tl < 0 || n < 0 {
			t.Fatal("malformed segment")
		}
		var fields []protowire.Number
		for b := ts; len(b) > 0; {
			num, typ, k := protowire.ConsumeTag(b)
			m := protowire.ConsumeFieldValue(num, typ, b[k:])
			fields, b = append(fields, num), b[k+m:]
		}
		out = append(out, fields)
		seg = seg[tl+n:]
	}
	return out
}

// TestNativeHistogramsAndMetadata: a native histogram datapoint reaches the output that speaks
// remote write 2.0 and is counted unsupported for the 1.0 one; metadata is written into 2.0
// segments only; and what the 2.0 writer sends (merged, transcoded) decodes to the same
// histogram, timestamp and metadata.
func TestNativeHistogramsAndMetadata(t *testing.T) {
	now := time.Now().UnixMilli()
	hist := []byte{0x08, 0x0c, 0x20, 0x06} // count_int 12, schema 3
	decode := func(dst *messages.Rows, _ []byte, _ int64) {
		meta := messages.PointExtra{Type: messages.TypeHistogram, Unit: []byte("seconds"), Help: []byte("Request time.")}
		withHist := meta
		withHist.Histogram = hist
		d := dst.NextPoint()
		d.Metric, d.Timestamp, d.Extra = []byte("rpc_duration_seconds"), now, dst.AddExtra(withHist)
		d = dst.NextPoint()
		d.Metric, d.Timestamp, d.Value = []byte("mem_bytes"), now, 5
		d.Extra = dst.AddExtra(messages.PointExtra{Type: messages.TypeGauge, Unit: []byte("bytes")})
	}
	e := testEncoder(t)
	e.decode = decode
	l, err := NewLayout([]string{"v1", "v2"}, []int{1, 1}, []bool{false, true}, []*config.Route{{Outputs: []string{"v1", "v2"}}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	e.topo = l
	pool := messages.NewShardBatchPool(4, 16<<10)
	segs := map[string][]byte{}
	encodeAll(e, pool, oneRecord(t, "x"), now, func(owner int, sb *messages.ShardBatch) {
		defer sb.Release()
		for _, seg := range sb.Segments {
			name := l.Outputs[l.WriterOutput[owner]].Name
			segs[name] = append(segs[name], sb.Data(seg)...)
		}
	})
	if got := e.drops[messages.ReasonUnsupported]; got != 1 {
		t.Fatalf("unsupported drops %d, want 1 (the histogram's copy for the 1.0 output)", got)
	}
	// Series are sorted by the series table, so look at each series' fields as a set.
	v1 := tsFields(t, segs["v1"])
	if len(v1) != 1 || len(v1[0]) != 2 || v1[0][0] != 1 || v1[0][1] != 2 {
		t.Fatalf("1.0 segment fields %v, want one series of a label and a sample", v1)
	}
	v2 := tsFields(t, segs["v2"])
	if len(v2) != 2 {
		t.Fatalf("2.0 segment has %d series, want 2", len(v2))
	}
	for _, f := range v2 {
		if len(f) != 3 || f[0] != 1 || f[1] != 15 || (f[2] != 2 && f[2] != 4) {
			t.Fatalf("2.0 series fields %v, want label, metadata, then a sample or a histogram", f)
		}
	}
	var m remotewrite.Merger
	if !m.Add(segs["v2"]) {
		t.Fatal("the merger refused a 2.0 segment")
	}
	var req []byte
	m.Build(100, 1<<20, func(r []byte, samples int) {
		if samples != 2 {
			t.Errorf("request of %d samples, want 2", samples)
		}
		req = append(req, r...)
	})
	var v2enc remotewrite.V2Encoder
	out, ok := v2enc.Transcode(nil, req)
	if !ok {
		t.Fatal("transcode failed")
	}
	var rows messages.Rows
	remotewrite.Parse(&rows, out, 0)
	if len(rows.Points) != 2 || len(rows.Bad) != 0 {
		t.Fatalf("decoded %d points, bad %+v", len(rows.Points), rows.Bad)
	}
	for i := range rows.Points {
		d := &rows.Points[i]
		x := rows.ExtraOf(d)
		if x == nil || d.Timestamp != now {
			t.Fatalf("%s: extra %v, ts %d", d.Metric, x, d.Timestamp)
		}
		switch string(d.Metric) {
		case "rpc_duration_seconds":
			if !bytes.Equal(x.Histogram, hist) || x.Type != messages.TypeHistogram || string(x.Unit) != "seconds" || string(x.Help) != "Request time." {
				t.Fatalf("histogram back as %x %d %q %q", x.Histogram, x.Type, x.Unit, x.Help)
			}
		case "mem_bytes":
			if x.Histogram != nil || d.Value != 5 || x.Type != messages.TypeGauge || string(x.Unit) != "bytes" {
				t.Fatalf("gauge back as %+v value %g", x, d.Value)
			}
		default:
			t.Fatalf("unexpected series %s", d.Metric)
		}
	}
}
