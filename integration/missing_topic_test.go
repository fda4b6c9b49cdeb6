package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// TestMissingInputTopicSaidOnce: an input topic the brokers do not have is one warning, not an
// error a retry; while it is missing /readyz fails naming it, the progress line lists it and
// sluice_input_topic_missing is 1, and the other input flows. Once the topic is created the
// readers join it, say so, and /readyz passes.
func TestMissingInputTopicSaidOnce(t *testing.T) {
	c := kafkatest.Start(t, "mt.present", 2, "mt.out", 2)
	cfg := sluicetest.WriteConfig(t, fmt.Sprintf(`
kafka {
  brokers = [%q]
  version = "3.6.0"
}
input "opentsdb" { topics = ["mt.present"] }
input "influx" { topics = ["mt.absent"] }
output "kafka" "o" {
  topic  = "mt.out"
  linger = "20ms"
}
`, c.Addrs[0]))
	p := sluicetest.Run(t, "run", "-config", cfg, "-http", "127.0.0.1:0", "-progress", "500ms")
	addr := p.HTTPAddr(t)
	kafkatest.WaitFor(t, 30*time.Second, "the progress line to list the missing topic", func() bool {
		pr := p.Last("progress")
		return pr != nil && pr["missing_topics"] == "mt.absent"
	})
	now := time.Now().Unix()
	c.Produce(t, "mt.present", []string{fmt.Sprintf("put present.cpu %d 1 host=a", now)}, 1)
	kafkatest.WaitFor(t, 30*time.Second, "the other input's datapoint to be written", func() bool {
		return sluicetest.Sum(sluicetest.Scrape(t, addr)["sluice_output_datapoints_total"], nil) == 1
	})
	// Several retries later (each about a second or two): still one warning, no errors.
	time.Sleep(8 * time.Second)
	code, body := get(t, "http://"+addr+"/readyz")
	if code != 503 || !strings.Contains(body, "mt.absent") {
		t.Fatalf("/readyz with a missing topic: %d %q", code, body)
	}
	if v := sluicetest.Sum(sluicetest.Scrape(t, addr)["sluice_input_topic_missing"], map[string]string{"topic": "mt.absent"}); v != 1 {
		t.Fatalf("sluice_input_topic_missing{topic=mt.absent} = %g", v)
	}
	warned := p.Lines("input topic does not exist on the brokers; waiting for it")
	if len(warned) != 1 || warned[0]["topics"] != "mt.absent" || warned[0]["@level"] != "warn" {
		t.Fatalf("want one warning naming mt.absent, got %v", warned)
	}
	for _, l := range p.Logs() {
		if l["@level"] == "error" {
			t.Fatalf("an error line while a topic is missing: %v", l)
		}
	}
	c.CreateTopic(t, "mt.absent", 2)
	kafkatest.WaitFor(t, 60*time.Second, "the readers to join the new topic", func() bool {
		code, _ := get(t, "http://"+addr+"/readyz")
		return code == 200 && p.Last("input topic exists now") != nil
	})
	if v := sluicetest.Scrape(t, addr)["sluice_input_topic_missing"]; v != nil && sluicetest.Sum(v, nil) != 0 {
		t.Fatal("sluice_input_topic_missing still set once the topic exists")
	}
	if code, _ := p.Stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
