package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
	"github.com/sluicehq/sluice/rwclient"
	"github.com/sluicehq/sluice/status"
)

// chromium is $SLUICE_CHROMIUM, or Debian's chromium on the PATH; the test skips without one.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SLUICE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no headless browser: apt-get install -y chromium (.ci/run installs it), or SLUICE_CHROMIUM=/path/to/chrome")
	return ""
}

func statusDoc(t *testing.T, addr string) status.Doc {
	t.Helper()
	code, body := get(t, "http://"+addr+"/api/v1/status")
	if code != http.StatusOK {
		t.Fatalf("/api/v1/status: %d %s", code, body)
	}
	var d status.Doc
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("/api/v1/status: %v", err)
	}
	return d
}

// pageReading is what the page shows, read from its DOM.
type pageReading struct {
	Refreshes  int        `json:"refreshes"`
	Totals     string     `json:"totals"`
	InRate     string     `json:"inRate"`
	Partitions [][]string `json:"partitions"`
	Endpoints  [][]string `json:"endpoints"`
	Drops      [][]string `json:"drops"`
	Events     int        `json:"events"`
	Health     string     `json:"health"`
}

const readPage = `(() => {
  const rows = id => [...document.querySelectorAll("#" + id + " tbody tr")].map(r => [...r.cells].map(c => c.textContent));
  return {refreshes: Number(document.body.dataset.refreshes || 0), totals: document.getElementById("totals").textContent,
    inRate: document.getElementById("in-rate").textContent, partitions: rows("partitions"), endpoints: rows("endpoints"),
    drops: rows("drops"), events: document.querySelectorAll("#events tbody tr").length, health: document.getElementById("health").textContent};
})()`

// TestStatusPageInBrowser runs the binary in dev mode with generated load and one remote-write
// output of two endpoints: a real VictoriaMetrics, and an address where nothing listens (its
// receiver refuses every request), so that its breaker opens while the datapoints go to the
// other. Lines of a bad format are produced too, so that something is dropped. Then it loads
// the status page in headless Chromium, as a person would: the page shows the partitions with
// non-zero rates, the open breaker and the drop reasons, and it updates on its own. The JSON
// document shows the numbers /metrics shows. A screenshot is saved (SLUICE_STATUS_SCREENSHOT
// names where; the README's comes from this test).
func TestStatusPageInBrowser(t *testing.T) {
	browser := chromium(t)
	bin := sluicetest.Binary(t)
	vm := startVictoriaMetrics(t, "vm-status")
	// The refusing endpoint's URL carries credentials, which nothing may show.
	refusing := "http://sluice:s3cret@" + sluicetest.FreeAddr(t) + "/api/v1/write?token=t0ken"
	shown := rwclient.Redacted(refusing)
	cfg := sluicetest.WriteConfig(t, fmt.Sprintf(`
log { level = "info" }
kafka { brokers = ["127.0.0.1:9"] }
input "opentsdb" { topics = ["metrics.opentsdb"] }
output "remote_write" "tsdb" {
  urls           = [%q, %q]
  probe_at_start = false
  breaker {
    failures  = 3
    cool_down = "5m"
  }
}
`, refusing, vm.writeURL()))
	broker := sluicetest.FreeAddr(t)
	p := sluicetest.Start(t, bin, nil, "run", "-dev", "-config", cfg, "-dev-broker", broker, "-dev-rate", "20000")
	addr := p.HTTPAddr(t)

	// Lines Sluice cannot parse: dropped as parse errors.
	produce := exec.Command(bin, "produce", "-brokers", broker, "-topic", "metrics.opentsdb")
	produce.Stdin = strings.NewReader("this is not opentsdb\nput only.a.name\nput bad.value 1700000000 notanumber host=a\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("sluice produce: %v\n%s", err, out)
	}

	var d status.Doc
	kafkatest.WaitFor(t, 60*time.Second, "the status document to show flow, an open breaker and drops", func() bool {
		d = statusDoc(t, addr)
		open := false
		for _, o := range d.Outputs {
			for _, e := range o.Endpoints {
				open = open || e.Breaker == "open"
			}
		}
		return d.Flow.OutPerSecond > 0 && open && len(d.Flow.Dropped) > 0 && len(d.Partitions) > 0
	})
	// No secret of the config shows: not the refusing URL's password or token, on the document,
	// /metrics or the page.
	_, metricsText := get(t, "http://"+addr+"/metrics")
	_, pageHTML := get(t, "http://"+addr+"/")
	for _, where := range []string{mustJSON(t, d), metricsText, pageHTML, mustJSON(t, p.Logs())} {
		for _, secret := range []string{"s3cret", "t0ken"} {
			if strings.Contains(where, secret) {
				t.Errorf("%q is shown: %.300s", secret, where[strings.Index(where, secret)-100:])
			}
		}
	}

	// The document's numbers are /metrics' numbers: a counter read from the document lies
	// between two scrapes taken around it, and what no longer moves is equal.
	before := sluicetest.Scrape(t, addr)
	d = statusDoc(t, addr)
	after := sluicetest.Scrape(t, addr)
	between := func(what string, got int64, family string, labels map[string]string) {
		t.Helper()
		lo, hi := sluicetest.Sum(before[family], labels), sluicetest.Sum(after[family], labels)
		if float64(got) < lo || float64(got) > hi {
			t.Errorf("%s: the document says %d, /metrics %v before and %v after", what, got, lo, hi)
		}
	}
	between("flow.datapoints_in", d.Flow.DatapointsIn, "sluice_input_datapoints_total", nil)
	between("flow.datapoints_out", d.Flow.DatapointsOut, "sluice_output_datapoints_total", nil)
	between("flow.records_in", d.Flow.RecordsIn, "sluice_input_records_total", nil)
	for reason, n := range d.Flow.Dropped {
		between("flow.dropped."+reason, n, "sluice_dropped_total", map[string]string{"reason": reason})
	}
	// The three produced lines are each dropped as unparseable; the generator's are all valid.
	if n := d.Flow.Dropped["unparseable"]; n < 3 {
		t.Errorf("%d unparseable drops shown after 3 bad lines: %v", n, d.Flow.Dropped)
	}
	var tsdb *status.Output
	for i := range d.Outputs {
		if d.Outputs[i].Name == "tsdb" {
			tsdb = &d.Outputs[i]
		}
	}
	if tsdb == nil || len(tsdb.Endpoints) != 2 {
		t.Fatalf("outputs: %+v", d.Outputs)
	}
	between("outputs.tsdb.datapoints", tsdb.Datapoints, "sluice_output_datapoints_total", map[string]string{"output": "tsdb"})
	for _, e := range tsdb.Endpoints {
		want := 0.0
		if e.Breaker == "open" {
			want = 1
		}
		if e.URL != shown && e.URL != vm.writeURL() {
			t.Errorf("endpoint URL %q is neither configured URL", e.URL)
		}
		if got := sluicetest.Sum(after["sluice_output_endpoint_state"], map[string]string{"endpoint": e.URL}); got != want {
			t.Errorf("endpoint %s: breaker %s in the document, state %v on /metrics", e.URL, e.Breaker, got)
		}
		between("endpoint opens "+e.URL, e.Opens, "sluice_output_endpoint_breaker_opens_total", map[string]string{"endpoint": e.URL})
		if (e.URL == shown) != (e.Breaker == "open") {
			t.Errorf("endpoint %s: breaker %s", e.URL, e.Breaker)
		}
	}
	owned := 0
	for _, pt := range d.Partitions {
		owned++
		lag := sluicetest.Sum(after["sluice_consumer_lag"], map[string]string{"topic": pt.Topic, "partition": strconv.Itoa(int(pt.Partition))})
		if pt.Lag < 0 || (lag == 0 && pt.Lag > 1000) {
			t.Errorf("partition %s/%d: lag %d in the document, %v on /metrics", pt.Topic, pt.Partition, pt.Lag, lag)
		}
		if len(pt.Workers) == 0 {
			t.Errorf("partition %s/%d: no worker", pt.Topic, pt.Partition)
		}
	}
	if float64(owned) != sluicetest.Sum(after["sluice_partition_owned"], nil) {
		t.Errorf("%d partitions in the document, %v owned on /metrics", owned, sluicetest.Sum(after["sluice_partition_owned"], nil))
	}
	for _, pool := range d.Pools {
		if got := sluicetest.Sum(after["sluice_batch_pool_size"], map[string]string{"pool": pool.Name}); float64(pool.Size) != got {
			t.Errorf("pool %s: size %d in the document, %v on /metrics", pool.Name, pool.Size, got)
		}
	}
	if got := sluicetest.Sum(after["sluice_memory_budget_bytes"], nil); float64(d.Memory.BudgetSum) != got {
		t.Errorf("memory budget %d in the document, %v on /metrics", d.Memory.BudgetSum, got)
	}
	if len(d.Workers) == 0 || d.Memory.RSS == 0 || len(d.Events) == 0 {
		t.Errorf("workers %v, rss %d, events %d", d.Workers, d.Memory.RSS, len(d.Events))
	}

	// The page, in a real browser.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1500, 1300), chromedp.Flag("disable-dev-shm-usage", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first action starts the browser, whose life is that call's context: no timeout on it.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatalf("loading the page in %s: %v", browser, err)
	}
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()
	refreshes := func(n int) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`Number(document.body.dataset.refreshes || 0) >= %d`, n))); err != nil {
			shown, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.getElementById("err").textContent`))
			t.Fatalf("waiting for the page's refresh %d: %v (the page says %q)", n, err, shown)
		}
	}
	read := func() pageReading {
		t.Helper()
		r, err := chromedp.Run(ctx, chromedp.Evaluate[pageReading](readPage))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return r
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible("#partitions tbody tr")); err != nil {
		t.Fatalf("the page shows no partition rows: %v", err)
	}
	refreshes(3)
	first := read()
	if first.Health != "ok" {
		t.Errorf("page health %q", first.Health)
	}
	rated := 0
	for _, row := range first.Partitions {
		if len(row) > 5 && row[5] != "0" {
			rated++
		}
	}
	if rated == 0 {
		t.Errorf("no partition with a non-zero rate on the page: %v", first.Partitions)
	}
	openShown := false
	for _, row := range first.Endpoints {
		if len(row) > 1 && strings.Contains(row[0], shown) && row[1] == "open" {
			openShown = true
		}
	}
	if !openShown {
		t.Errorf("the page does not show %s's breaker open: %v", shown, first.Endpoints)
	}
	dropShown := false
	for _, row := range first.Drops {
		if len(row) > 0 && d.Flow.Dropped[row[0]] > 0 {
			dropShown = true
		}
	}
	if !dropShown {
		t.Errorf("the page shows no drop reason of %v: %v", d.Flow.Dropped, first.Drops)
	}
	if first.Events == 0 {
		t.Error("the page shows no events")
	}
	refreshes(first.Refreshes + 2)
	second := read()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if second.Totals == first.Totals {
		t.Errorf("the page did not update: totals %q both times (%d, then %d refreshes)", first.Totals, first.Refreshes, second.Refreshes)
	}
	out := os.Getenv("SLUICE_STATUS_SCREENSHOT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "status.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("page read twice (%d and %d refreshes); %d partitions with a rate; screenshot %s (%d bytes)", first.Refreshes, second.Refreshes, rated, out, len(shot))

	// sluice status prints the same in a terminal.
	cmd := exec.Command(bin, "status", "-address", addr)
	text, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sluice status: %v\n%s", err, text)
	}
	for _, want := range []string{"PARTITIONS", "metrics.opentsdb/", "breaker open", "OUTPUTS", "RECENT EVENTS"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("sluice status lacks %q:\n%s", want, text)
		}
	}
	if code, _ := p.Stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
