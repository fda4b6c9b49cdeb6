package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/config"
)

// TestDevBrokerTrims: dev mode's embedded broker keeps each partition within its retention, by
// bytes (the oldest batches go first) and by age, so `sluice run -dev` can run all day; the
// newest records stay readable.
func TestDevBrokerTrims(t *testing.T) {
	const limit = 64 << 10
	b, cfg := testDevBroker(t, devRetention{age: time.Hour, bytes: limit})
	if _, err := b.createTopics(cfg, 2); err != nil {
		t.Fatal(err)
	}
	sc := sarama.NewConfig()
	sc.Version = cfg.Kafka.KafkaVersion
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	client, err := sarama.NewClient(cfg.Kafka.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const topic, n = "metrics.opentsdb", 200
	value := strings.Repeat("put a.b 1 1 host=x\n", 200) // ~4 KiB a record, one batch each
	for i := 0; i < n; i++ {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(value)}); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 1: records two hours old, past the one-hour retention.
	for i := 0; i < 10; i++ {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 1, Value: sarama.StringEncoder(value),
			Timestamp: time.Now().Add(-2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	b.ApplyRetention() // what the trimming loop does every devTrimEvery

	offsets := func(p int32) (oldest, newest int64) {
		t.Helper()
		var err error
		if oldest, err = client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
			t.Fatal(err)
		}
		if newest, err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			t.Fatal(err)
		}
		return oldest, newest
	}
	oldest, newest := offsets(0)
	if newest != n {
		t.Fatalf("partition 0 ends at %d, want %d", newest, n)
	}
	kept := newest - oldest
	if maxKept := int64(limit/len(value)) + 1; kept == 0 || kept > maxKept {
		t.Fatalf("partition 0 keeps %d of %d records of %d bytes, want 1..%d (retention.bytes %d)", kept, n, len(value), maxKept, limit)
	}
	if oldest, newest := offsets(1); oldest != newest || newest != 10 {
		t.Fatalf("partition 1 keeps offsets [%d, %d) of records past the retention age, want none of 10", oldest, newest)
	}
	// The newest records can still be consumed.
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, oldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if m.Offset != oldest || string(m.Value) != value {
			t.Fatalf("first record kept: offset %d, %d bytes", m.Offset, len(m.Value))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the records kept cannot be consumed")
	}
}

// TestDevHints: dev mode tells a newcomer how to produce a line of its input's format, tail the
// output and read the metrics, with the addresses it runs on and the way they ran Sluice.
func TestDevHints(t *testing.T) {
	cfg, err := config.Load("dev", []byte(devConfig("127.0.0.1:19092")))
	if err != nil {
		t.Fatal(err)
	}
	produce, tail, metrics, page, statusCmd := devHints(cfg, "127.0.0.1:9464")
	h := produce + "\n" + tail + "\n" + metrics + "\n" + page + "\n" + statusCmd
	for _, want := range []string{
		// The test binary, like one `go run` built, lives in a go-build directory: the hint says
		// how to run the command from the checkout, not a sluice binary the user may not have.
		`echo "put sys.cpu.user $(date +%s) 42 host=web01" | go run ./cmd/sluice produce -brokers 127.0.0.1:19092 -topic metrics.opentsdb`,
		"go run ./cmd/sluice tail -brokers 127.0.0.1:19092 -topic metrics.shards",
		"curl -s http://127.0.0.1:9464/metrics",
		"http://127.0.0.1:9464/",
		"go run ./cmd/sluice status -address 127.0.0.1:9464",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("hints lack %q:\n%s", want, h)
		}
	}
}

// testDevBroker starts an embedded broker on a free port, closed when the test ends, and returns
// it with dev mode's config for it.
func testDevBroker(t *testing.T, ret devRetention) (*devBrokerT, *config.Config) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b, err := startDevBroker(addr, ret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cfg, err := config.Load("dev", []byte(devConfig(addr)))
	if err != nil {
		t.Fatal(err)
	}
	return b, cfg
}
