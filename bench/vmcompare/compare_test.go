package vmcompare

import (
	"testing"

	vmgraphite "github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/graphite"
	vminflux "github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/influx"
	vmtsdb "github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/opentsdb"
	vmtsdbhttp "github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/opentsdbhttp"
	vmprom "github.com/VictoriaMetrics/VictoriaMetrics/lib/protoparser/prometheus"
	"github.com/valyala/fastjson"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/graphite"
	"github.com/sluicehq/sluice/parse/influx"
	"github.com/sluicehq/sluice/parse/jsonput"
	"github.com/sluicehq/sluice/parse/opentsdb"
	"github.com/sluicehq/sluice/parse/prometheus"
)

const lines = 1000

// side is one parser under comparison: parse reads input and returns how many datapoints it
// produced.
type side struct {
	impl  string
	parse func(input []byte) int
}

type format struct {
	name  string
	input []byte
	sides []side
}

func formats() []format {
	var (
		rows    messages.Rows
		vmTsdb  vmtsdb.Rows
		vmGr    vmgraphite.Rows
		vmInf   vminflux.Rows
		vmProm  vmprom.Rows
		vmHTTP  vmtsdbhttp.Rows
		vmJSON  fastjson.Parser
		inf, _  = influx.New("ns", "_", false)
		sluiceN = func(f func()) int { rows.Reset(); f(); return len(rows.Points) }
	)
	sluiceTsdb := side{"sluice", func(in []byte) int { return sluiceN(func() { opentsdb.Parse(&rows, in, 0) }) }}
	vmTsdbSide := side{"vm", func(in []byte) int { vmTsdb.Unmarshal(bytesToString(in)); return len(vmTsdb.Rows) }}
	sluiceGr := side{"sluice", func(in []byte) int { return sluiceN(func() { graphite.Parse(&rows, in, 1) }) }}
	vmGrSide := side{"vm", func(in []byte) int { vmGr.Unmarshal(bytesToString(in)); return len(vmGr.Rows) }}
	return []format{
		{"opentsdb-4tags", benchlines.OpenTSDB(lines), []side{sluiceTsdb, vmTsdbSide}},
		{"opentsdb-vmshape", benchlines.OpenTSDBVMShape(lines), []side{sluiceTsdb, vmTsdbSide}},
		{"graphite-plain", benchlines.Graphite(lines, false), []side{sluiceGr, vmGrSide}},
		{"graphite-tagged", benchlines.Graphite(lines, true), []side{sluiceGr, vmGrSide}},
		{"graphite-vmshape", benchlines.GraphiteVMShape(lines), []side{sluiceGr, vmGrSide}},
		{"influx", benchlines.Influx(lines), []side{
			{"sluice", func(in []byte) int { return sluiceN(func() { inf.Parse(&rows, in, 1) }) }},
			{"vm", func(in []byte) int {
				_ = vmInf.Unmarshal(bytesToString(in))
				n := 0
				for i := range vmInf.Rows {
					n += len(vmInf.Rows[i].Fields)
				}
				return n
			}},
		}},
		{"prometheus", benchlines.Prometheus(lines), []side{
			{"sluice", func(in []byte) int { return sluiceN(func() { prometheus.Parse(&rows, in, 1) }) }},
			{"vm", func(in []byte) int { vmProm.Unmarshal(bytesToString(in)); return len(vmProm.Rows) }},
		}},
		{"json", benchlines.JSONPut(lines), []side{
			{"sluice", func(in []byte) int { return sluiceN(func() { jsonput.Parse(&rows, in, 0) }) }},
			{"vm", func(in []byte) int {
				v, err := vmJSON.ParseBytes(in)
				if err != nil {
					return 0
				}
				vmHTTP.Unmarshal(v)
				return len(vmHTTP.Rows)
			}},
		}},
	}
}

// TestSameDatapoints checks that both sides read every datapoint of every input, so the
// benchmark compares the same work.
func TestSameDatapoints(t *testing.T) {
	for _, f := range formats() {
		want := lines
		if f.name == "influx" {
			want = 3 * lines
		}
		for _, s := range f.sides {
			if got := s.parse(f.input); got != want {
				t.Errorf("%s/%s: %d datapoints, want %d", f.name, s.impl, got, want)
			}
		}
	}
}

// BenchmarkParse reports ns per input line (per object for json) for each format and side.
func BenchmarkParse(b *testing.B) {
	for _, f := range formats() {
		for _, s := range f.sides {
			b.Run("format="+f.name+"/impl="+s.impl, func(b *testing.B) {
				b.SetBytes(int64(len(f.input)))
				b.ReportAllocs()
				for b.Loop() {
					s.parse(f.input)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
			})
		}
	}
}
