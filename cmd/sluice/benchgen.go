package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/messages/remotewrite"
	"github.com/sluicehq/sluice/parse/otlp/otlptest"
)

// skew says which share of the records each input partition gets.
type skew struct {
	weights []float64 // per partition, summing to 1
}

// parseSkew reads -skew: "uniform", "zipf:S" (partition i gets a share ∝ 1/(i+1)^S) or
// "hot:P:F" (P partitions carry the fraction F of the records between them).
func parseSkew(s string, partitions int) (skew, error) {
	w := make([]float64, partitions)
	parts := strings.Split(s, ":")
	switch {
	case s == "uniform":
		for i := range w {
			w[i] = 1
		}
	case parts[0] == "zipf" && len(parts) == 2:
		exp, err := strconv.ParseFloat(parts[1], 64)
		if err != nil || exp <= 0 {
			return skew{}, fmt.Errorf("-skew %q: zipf:S needs S > 0", s)
		}
		for i := range w {
			w[i] = 1 / math.Pow(float64(i+1), exp)
		}
	case parts[0] == "hot" && len(parts) == 3:
		p, err1 := strconv.Atoi(parts[1])
		f, err2 := strconv.ParseFloat(parts[2], 64)
		if err1 != nil || err2 != nil || p < 1 || p >= partitions || f <= 0 || f >= 1 {
			return skew{}, fmt.Errorf("-skew %q: hot:P:F needs 1 ≤ P < partitions and 0 < F < 1", s)
		}
		for i := range w {
			if i < p {
				w[i] = f / float64(p)
			} else {
				w[i] = (1 - f) / float64(partitions-p)
			}
		}
	default:
		return skew{}, fmt.Errorf("-skew %q: use uniform, zipf:S or hot:P:F", s)
	}
	var sum float64
	for _, v := range w {
		sum += v
	}
	for i := range w {
		w[i] /= sum
	}
	return skew{weights: w}, nil
}

// split divides n records over the partitions by the weights (largest remainder, so the counts
// add up to n exactly).
func (s skew) split(n int) []int {
	out := make([]int, len(s.weights))
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, len(s.weights))
	left := n
	for i, w := range s.weights {
		exact := w * float64(n)
		out[i] = int(exact)
		left -= out[i]
		rems[i] = rem{i, exact - float64(out[i])}
	}
	for ; left > 0; left-- {
		best := 0
		for j := range rems {
			if rems[j].r > rems[best].r {
				best = j
			}
		}
		out[rems[best].i]++
		rems[best].r = -1
	}
	return out
}

// benchMetrics are the metric names of generated series.
var benchMetrics = []string{"sys.cpu.user", "sys.cpu.system", "sys.mem.used", "net.if.bytes_in",
	"app.http.requests", "app.http.latency_p99", "app.db.queries", "jvm.heap.used"}

// influxFields are the fields of every generated influx line: an agent's line carries several
// (Telegraf's cpu plugin: usage_user, usage_system, usage_idle, ...), each its own series.
var influxFields = []string{"usage_user", "usage_system", "usage_idle"}

// recordGen writes records of one format: lines lines each, over series series, with current
// timestamps so validation keeps them. Influx lines are shaped like an agent's: 4 tags and
// len(influxFields) fields, so a line is that many datapoints and series/len(influxFields) tag
// sets make the series; every other format has one datapoint per line and 2 or 3 tags.
type recordGen struct {
	format string
	lines  int
	series int
	seq    int
	buf    []byte
	rows   messages.Rows
	rw     []byte
}

// perLine is how many datapoints one generated line holds.
func (g *recordGen) perLine() int {
	if g.format == "influx" {
		return len(influxFields)
	}
	return 1
}

// perRecord is how many datapoints one generated record holds.
func (g *recordGen) perRecord() int { return g.lines * g.perLine() }

// record returns the next record's value (valid until the next call) at nowSec.
func (g *recordGen) record(nowSec int64) []byte {
	b := g.buf[:0]
	if g.format == "json" {
		b = append(b, '[')
	}
	if g.format == "remote_write" {
		return g.remoteWrite(nowSec)
	}
	if g.format == "otlp" {
		return g.otlp(nowSec)
	}
	keys := g.series
	if g.format == "influx" {
		keys = max(1, g.series/len(influxFields))
	}
	for i := 0; i < g.lines; i++ {
		s := g.seq % keys
		g.seq++
		metric := benchMetrics[s%len(benchMetrics)]
		host := s / len(benchMetrics)
		v := float64(g.seq%1000) * 0.25
		switch g.format {
		case "opentsdb":
			b = append(b, "put "...)
			b = append(b, metric...)
			b = append(b, ' ')
			b = strconv.AppendInt(b, nowSec, 10)
			b = append(b, ' ')
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
			b = append(b, " host=web"...)
			b = strconv.AppendInt(b, int64(host), 10)
			b = append(b, " dc=us-east-1 env=prod\n"...)
		case "graphite":
			b = append(b, metric...)
			b = append(b, ";host=web"...)
			b = strconv.AppendInt(b, int64(host), 10)
			b = append(b, ";dc=us-east-1 "...)
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
			b = append(b, ' ')
			b = strconv.AppendInt(b, nowSec, 10)
			b = append(b, '\n')
		case "influx":
			b = append(b, strings.ReplaceAll(metric, ".", "_")...)
			b = append(b, ",host=web"...)
			b = strconv.AppendInt(b, int64(host), 10)
			b = append(b, ",dc=us-east-1,env=prod,service=svc"...)
			b = strconv.AppendInt(b, int64(host%20), 10)
			for k, field := range influxFields {
				if k == 0 {
					b = append(b, ' ')
				} else {
					b = append(b, ',')
				}
				b = append(b, field...)
				b = append(b, '=')
				b = strconv.AppendFloat(b, v+float64(k), 'f', -1, 64)
			}
			b = append(b, ' ')
			b = strconv.AppendInt(b, nowSec*1e9, 10)
			b = append(b, '\n')
		case "prometheus":
			b = append(b, strings.ReplaceAll(metric, ".", "_")...)
			b = append(b, `{host="web`...)
			b = strconv.AppendInt(b, int64(host), 10)
			b = append(b, `",dc="us-east-1"} `...)
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
			b = append(b, ' ')
			b = strconv.AppendInt(b, nowSec*1000, 10)
			b = append(b, '\n')
		case "json":
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":"`...)
			b = append(b, metric...)
			b = append(b, `","timestamp":`...)
			b = strconv.AppendInt(b, nowSec, 10)
			b = append(b, `,"value":`...)
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
			b = append(b, `,"tags":{"host":"web`...)
			b = strconv.AppendInt(b, int64(host), 10)
			b = append(b, `","dc":"us-east-1"}}`...)
		}
	}
	if g.format == "json" {
		b = append(b, ']')
	}
	g.buf = b
	return b
}

// otlp builds an ExportMetricsServiceRequest (what the Collector's kafkaexporter writes) with one
// gauge point per line: one resource, the host and dc as point attributes.
func (g *recordGen) otlp(nowSec int64) []byte {
	res := otlptest.Resource(otlptest.KVStr("service.name", "bench"), otlptest.KVStr("service.instance.id", "bench-1"))
	metrics := make([]otlptest.Msg, 0, g.lines)
	for i := 0; i < g.lines; i++ {
		s := g.seq % g.series
		g.seq++
		attrs := []otlptest.Msg{otlptest.KVStr("host", "web"+strconv.Itoa(s/len(benchMetrics))), otlptest.KVStr("dc", "us-east-1")}
		metrics = append(metrics, otlptest.Gauge(benchMetrics[s%len(benchMetrics)], "",
			otlptest.NumberPoint(attrs, uint64(nowSec)*1e9, float64(g.seq%1000)*0.25)))
	}
	g.buf = append(g.buf[:0], otlptest.Request(res, metrics...)...)
	return g.buf
}

// remoteWrite builds a snappy-compressed WriteRequest with one sample per series.
func (g *recordGen) remoteWrite(nowSec int64) []byte {
	raw := g.rw[:0]
	for i := 0; i < g.lines; i++ {
		s := g.seq % g.series
		g.seq++
		metric := []byte(strings.ReplaceAll(benchMetrics[s%len(benchMetrics)], ".", "_"))
		tags := []messages.Tag{
			{Key: []byte("dc"), Value: []byte("us-east-1")},
			{Key: []byte("host"), Value: strconv.AppendInt([]byte("web"), int64(s/len(benchMetrics)), 10)},
		}
		ts := nowSec * 1000
		body := remotewrite.LabelsSize(metric, tags) + remotewrite.SampleSize(ts)
		raw = remotewrite.AppendSeriesHeader(raw, body, metric, tags)
		raw = remotewrite.AppendSample(raw, float64(g.seq%1000)*0.25, ts)
	}
	g.rw = raw
	g.buf = remotewrite.Compress(g.buf[:0], raw)
	return g.buf
}
