package textcheck

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/prometheus"
)

// noTimestamp stands for a sample without its own timestamp on both sides.
const noTimestamp = -1

// sample is one sample as text both sides can be compared by: its labels sorted by name with the
// metric name as __name__, the value's bits and the timestamp.
func sample(ls []string, bits uint64, ts int64) string {
	sort.Strings(ls)
	return fmt.Sprintf("%s %#x %d", strings.Join(ls, ","), bits, ts)
}

// promSamples parses page with Prometheus' parser. Labels with an empty value are left out, as
// Prometheus' data model has them (a label with an empty value is no label). ok is false when
// Prometheus rejects the page.
func promSamples(page []byte) (out []string, err error) {
	p := textparse.NewPromParser(page, labels.NewSymbolTable(), false)
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, ts, v := p.Series()
		var ls labels.Labels
		p.Labels(&ls)
		var kv []string
		ls.Range(func(l labels.Label) {
			if l.Value != "" {
				kv = append(kv, fmt.Sprintf("%q=%q", l.Name, l.Value))
			}
		})
		t := int64(noTimestamp)
		if ts != nil {
			t = *ts
		}
		out = append(out, sample(kv, math.Float64bits(v), t))
	}
}

// sluiceSamples parses page with Sluice's decoder; bad counts the lines it rejected.
func sluiceSamples(page []byte) (out []string, bad []messages.BadLine) {
	var rows messages.Rows
	prometheus.Parse(&rows, page, noTimestamp)
	for _, dp := range rows.Points {
		var kv []string
		if len(dp.Metric) > 0 { // an empty name is no label, as on Prometheus' side
			kv = append(kv, fmt.Sprintf("%q=%q", "__name__", dp.Metric))
		}
		for _, t := range dp.Tags {
			kv = append(kv, fmt.Sprintf("%q=%q", t.Key, t.Value))
		}
		out = append(out, sample(kv, math.Float64bits(dp.Value), dp.Timestamp))
	}
	return out, rows.Bad
}

// compare reports the first difference between the two parsers on page, which Prometheus must
// accept.
func compare(page []byte) error {
	want, err := promSamples(page)
	if err != nil {
		return fmt.Errorf("Prometheus rejects the page: %v", err)
	}
	got, bad := sluiceSamples(page)
	if len(bad) > 0 {
		return fmt.Errorf("Sluice rejects %d lines Prometheus accepts, the first %q: %s", len(bad), bad[0].Line, bad[0].Detail)
	}
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Errorf("sample %d of %d:\nPrometheus %s\nSluice     %s", i, len(want), w, g)
		}
	}
	return nil
}

// corpus holds the edge cases: empty label values, escapes, NaN and ±Inf spellings, comments and
// metadata, timestamps, whitespace, and Prometheus 3's quoted UTF-8 names.
var corpus = []string{
	"up 1\n",
	"# HELP http_requests_total The total.\n# TYPE http_requests_total counter\nhttp_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n",
	"vm_log_messages_total{app_version=\"\",level=\"info\",location=\"lib/x.go:52\"} 1\n",
	"m{a=\"\"} 1\nm 2\n",
	"m{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n",
	"m{a=\"\\q\"} 1\n",
	"a NaN\nb +Inf\nc -Inf\nd Inf\ne nan\nf -inf\n",
	"a 1e3\nb -0\nd .5\ne 5.\nf +3\n",
	"m{le=\"+Inf\"} 5\n",
	"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
	"# TYPE s summary\ns{quantile=\"0.99\"} 1\ns{quantile=\"1\"} 2\ns_sum 3\ns_count 2\n",
	"m{ a = \"1\" , b=\"2\", }\t3\t42\n",
	"ns:metric_name:rate5m 1\n",
	"# a comment\n\n   \nm 1\n",
	"{\"my.metric\", \"label.x\"=\"v\"} 1\n",
	"{\"only.name\"} 4 5\n",
	"m{\"quoted name\"=\"x\"} 1\n",
	"{a=\"1\",\"quo\\\"ted\"} 5\n",
	"m{a=\"ü é\",b=\"日本\"} 1\n",
}

// rejected are lines Prometheus refuses: Sluice must refuse each too (a bad line, no sample).
var rejected = []string{
	"c 0x1p3\n", "m 1_000\n", "m 1 -5\n", "m 1 +5\n", "m 1 1.5\n", "9lives 1\n", "m{a=1} 1\n", "m{\"x\"} 1\n",
	"{\"a\",\"b\"} 1\n", "{a=\"1\"} 1\n", "m{a=\"1\" 1\n", "m\n",
	"m 1 # {trace_id=\"x\"} 2\n", // an OpenMetrics exemplar: not in the text format 0.0.4
}

func TestCorpus(t *testing.T) {
	for _, page := range corpus {
		if err := compare([]byte(page)); err != nil {
			t.Errorf("%q: %v", page, err)
		}
	}
	for _, line := range rejected {
		if _, err := promSamples([]byte(line)); err == nil {
			t.Errorf("%q: Prometheus accepts it; move it to the corpus", line)
		}
		if got, bad := sluiceSamples([]byte(line)); len(got) != 0 || len(bad) != 1 {
			t.Errorf("%q: Sluice made %d samples and %d bad lines of a line Prometheus refuses", line, len(got), len(bad))
		}
	}
}

// TestRealExpositionPages compares both parsers on the /metrics pages of the real
// victoria-metrics and prometheus binaries (Debian's packages), started here on loopback.
func TestRealExpositionPages(t *testing.T) {
	for _, name := range []string{"victoria-metrics", "prometheus"} {
		t.Run(name, func(t *testing.T) {
			page := exposition(t, name)
			if err := compare(page); err != nil {
				t.Fatal(err)
			}
			n, _ := sluiceSamples(page)
			t.Logf("%s: %d samples, %d bytes, the same from both parsers", name, len(n), len(page))
		})
	}
}

// exposition starts the binary on a free loopback port and returns its /metrics page.
func exposition(t *testing.T, name string) []byte {
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; CI installs it", name)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	var args []string
	switch name {
	case "victoria-metrics":
		args = []string{"-storageDataPath=" + dir, "-httpListenAddr=" + addr, "-loggerLevel=ERROR"}
	default:
		cfg := filepath.Join(dir, "prometheus.yml")
		if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = []string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + addr, "--log.level=error"}
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			page, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK && len(page) > 0 {
				return page
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s served no /metrics page within 30 s: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// openQuote reports whether a line of a sample ends inside a quoted string (outside comments).
func openQuote(line string) bool {
	if strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") {
		return false
	}
	in := false
	for i := 0; i < len(line); i++ {
		switch {
		case in && line[i] == '\\':
			i++
		case line[i] == '"':
			in = !in
		}
	}
	return in
}

// FuzzSameAsPrometheus: on any input Prometheus' parser accepts, Sluice's decoder accepts every
// line and gives the same samples; but for three quirks of Prometheus' lexer the comparison
// leaves out: a NUL byte silently ends its page, a line's leading whitespace becomes part of its
// metric name, and a raw line break inside a quoted string continues the sample on the next line.
// Sluice reports the NUL's line and the broken lines as bad and reads the name without the
// whitespace.
func FuzzSameAsPrometheus(f *testing.F) {
	for _, page := range corpus {
		f.Add(page)
	}
	f.Fuzz(func(t *testing.T, page string) {
		// Prometheus' lexer ends the page at a NUL byte, silently; Sluice reports the line as bad
		// instead (nothing is dropped without a trace), a difference the comparison leaves out.
		if strings.IndexByte(page, 0) >= 0 {
			return
		}
		// Prometheus keeps a line's leading whitespace in the metric name (" A 0" is the series
		// " A"); Sluice leaves it out. The comparison leaves such lines out too.
		for _, line := range strings.Split(page, "\n") {
			if t := strings.TrimLeft(line, " \t"); t != line && t != "" && t[0] != '#' || openQuote(line) {
				return
			}
		}
		if _, err := promSamples([]byte(page)); err != nil {
			return // Prometheus rejects it whole; Sluice judges line by line
		}
		if err := compare([]byte(page)); err != nil {
			t.Fatal(err)
		}
	})
}
