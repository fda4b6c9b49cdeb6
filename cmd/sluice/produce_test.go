package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestProduce: sluice produce writes one record per line (blank lines skipped), -lines N groups
// N lines a record, -lines 0 makes stdin one record; -config's first input topic is the default,
// and every record is read back as written.
func TestProduce(t *testing.T) {
	_, cfg := testDevBroker(t, devRetention{age: time.Hour, bytes: 1 << 20})
	addr := cfg.Kafka.Brokers[0]
	if err := createTopics(cfg, map[string]int{"p.lines": 1, "p.grouped": 1, "p.whole": 1}); err != nil {
		t.Fatal(err)
	}
	const in = "a 1\nb 2\n\nc 3\nd 4\ne 5\n"
	produce := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := produceCmd(append([]string{"-brokers", addr}, args...), strings.NewReader(in), &out, &errb); code != exitOK {
			t.Fatalf("produce %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	read := func(topic string, n int) []string {
		t.Helper()
		c, err := sarama.NewConsumer([]string{addr}, sarama.NewConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		var got []string
		for len(got) < n {
			select {
			case m := <-pc.Messages():
				if m.Key != nil {
					t.Fatalf("record keyed %q; agents write unkeyed records", m.Key)
				}
				got = append(got, string(m.Value))
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: %d records, want %d", topic, len(got), n)
			}
		}
		return got
	}
	if out := produce("-topic", "p.lines"); out != "produced 5 records (5 lines) to p.lines\n" {
		t.Errorf("stdout %q", out)
	}
	if got, want := read("p.lines", 5), []string{"a 1\n", "b 2\n", "c 3\n", "d 4\n", "e 5\n"}; !slices.Equal(got, want) {
		t.Errorf("one record per line: %q", got)
	}
	produce("-topic", "p.grouped", "-lines", "2")
	if got, want := read("p.grouped", 3), []string{"a 1\nb 2\n", "\nc 3\n", "d 4\ne 5\n"}; !slices.Equal(got, want) {
		t.Errorf("-lines 2: %q", got)
	}
	produce("-topic", "p.whole", "-lines", "0")
	if got := read("p.whole", 1); got[0] != in {
		t.Errorf("-lines 0: %q", got)
	}
	var errb bytes.Buffer
	if code := produceCmd([]string{"-brokers", addr}, strings.NewReader(in), &bytes.Buffer{}, &errb); code != exitError || !strings.Contains(errb.String(), "-topic is required") {
		t.Errorf("no topic: exit %d, %q", code, errb.String())
	}
}
