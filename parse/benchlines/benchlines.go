// Package benchlines builds the realistic input every parser benchmark uses, so the in-package
// benchmarks and the side-by-side comparison with VictoriaMetrics' parsers (bench/vmcompare)
// time exactly the same bytes.
package benchlines

import (
	"bytes"
	"strconv"
)

var shortNames = []string{"cpu.usage_user", "cpu.usage_system", "cpu.usage_iowait", "cpu.usage_irq"}

// OpenTSDB builds n `put` lines over a few hundred series on web hosts, 4 tags each.
func OpenTSDB(n int) []byte {
	var b bytes.Buffer
	metrics := []string{"sys.cpu.user", "sys.cpu.system", "sys.mem.used", "net.bytes.in", "app.requests.latency.p99"}
	for i := 0; i < n; i++ {
		b.WriteString("put ")
		b.WriteString(metrics[i%len(metrics)])
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(1700000000 + i))
		b.WriteString(" ")
		b.WriteString(strconv.FormatFloat(float64(i%1000)*1.25, 'f', -1, 64))
		b.WriteString(" host=web")
		b.WriteString(strconv.Itoa(i % 97))
		b.WriteString(" dc=us-east-1 cpu=")
		b.WriteString(strconv.Itoa(i % 8))
		b.WriteString(" env=prod\n")
	}
	return b.Bytes()
}

// OpenTSDBVMShape builds n lines shaped like VictoriaMetrics' own OpenTSDB benchmark
// (`put cpu.usage_user 1234556768 1.23 a=b`: one tag).
func OpenTSDBVMShape(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString("put " + shortNames[i%4] + " " + strconv.Itoa(1234556768+i%3) + " " +
			strconv.Itoa(i%100) + "." + strconv.Itoa(i%997) + " a=b\n")
	}
	return b.Bytes()
}

// Graphite builds n lines; tagged lines carry 3 Graphite 1.1 tags, plain ones a 4-part path.
func Graphite(n int, tagged bool) []byte {
	var b bytes.Buffer
	metrics := []string{"cpu.user", "cpu.system", "mem.used", "net.bytes_in", "app.requests.p99"}
	for i := 0; i < n; i++ {
		if tagged {
			b.WriteString(metrics[i%len(metrics)])
			b.WriteString(";host=web")
			b.WriteString(strconv.Itoa(i % 97))
			b.WriteString(";dc=us-east-1;env=prod")
		} else {
			b.WriteString("servers.web")
			b.WriteString(strconv.Itoa(i % 97))
			b.WriteString(".")
			b.WriteString(metrics[i%len(metrics)])
		}
		b.WriteString(" ")
		b.WriteString(strconv.FormatFloat(float64(i%1000)*1.25, 'f', -1, 64))
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(1700000000 + i))
		b.WriteString("\n")
	}
	return b.Bytes()
}

// GraphiteVMShape builds n lines shaped like VictoriaMetrics' own Graphite benchmark
// (`cpu.usage_user 1.23 1234556768`).
func GraphiteVMShape(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString(shortNames[i%4] + " " + strconv.Itoa(i%100) + "." + strconv.Itoa(i%997) + " " +
			strconv.Itoa(1234556768+i%3) + "\n")
	}
	return b.Bytes()
}

// Influx builds n lines with 4 tags and 3 fields each (Telegraf's cpu plugin shape), nanosecond
// timestamps.
func Influx(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString("cpu,cpu=cpu")
		b.WriteString(strconv.Itoa(i % 8))
		b.WriteString(",host=web")
		b.WriteString(strconv.Itoa(i % 97))
		b.WriteString(",dc=us-east-1,env=prod usage_user=")
		b.WriteString(strconv.FormatFloat(float64(i%1000)*0.125, 'f', -1, 64))
		b.WriteString(",usage_system=")
		b.WriteString(strconv.Itoa(i % 100))
		b.WriteString(".5,usage_idle=")
		b.WriteString(strconv.Itoa(i % 90))
		b.WriteString("i ")
		b.WriteString(strconv.FormatInt(1700000000000000000+int64(i)*1000000, 10))
		b.WriteString("\n")
	}
	return b.Bytes()
}

// Prometheus builds n samples with 5 labels each, with a HELP and TYPE line every 50 samples.
func Prometheus(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		if i%50 == 0 {
			b.WriteString("# HELP http_requests_total The total number of HTTP requests.\n# TYPE http_requests_total counter\n")
		}
		b.WriteString(`http_requests_total{method="post",code="200",handler="/api/v1/query",instance="web`)
		b.WriteString(strconv.Itoa(i % 97))
		b.WriteString(`:9090",job="api"} `)
		b.WriteString(strconv.Itoa(i * 3))
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(1700000000000 + i))
		b.WriteString("\n")
	}
	return b.Bytes()
}

// JSONPut builds an OpenTSDB /api/put array of n datapoints with 3 tags each.
func JSONPut(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(`{"metric":"sys.cpu.user","timestamp":`)
		b.WriteString(strconv.Itoa(1700000000 + i))
		b.WriteString(`,"value":`)
		b.WriteString(strconv.FormatFloat(float64(i%1000)*1.25, 'f', -1, 64))
		b.WriteString(`,"tags":{"host":"web`)
		b.WriteString(strconv.Itoa(i % 97))
		b.WriteString(`","dc":"us-east-1","cpu":"`)
		b.WriteString(strconv.Itoa(i % 8))
		b.WriteString(`"}}`)
	}
	b.WriteString("]")
	return b.Bytes()
}
