package control_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sluicehq/sluice/control"
	"github.com/sluicehq/sluice/integration/kafkatest"
)

// TestPublishReadFollow: Publish creates the topic and writes versions; ReadAll returns them with
// where to follow from; Follow hands on what comes after; Newest orders by version; a record
// without a version header is counted, not returned.
func TestPublishReadFollow(t *testing.T) {
	c := kafkatest.Start(t, "unused.in", 1, "unused.out", 1)
	client, err := sarama.NewClient(c.Addrs, c.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, _, err := control.ReadAll(ctx, client, "ctl"); !errors.Is(err, control.ErrNoTopic) {
		t.Fatalf("ReadAll of a missing topic: %v, want ErrNoTopic", err)
	}
	for v, doc := range []string{"", "denylist { globs = [\"a.**\"] }", "denylist { globs = [\"b.**\"] }"} {
		if v == 0 {
			continue
		}
		if _, _, err := control.Publish(client, "ctl", int64(v), []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "ctl", Value: sarama.StringEncoder("no version")}); err != nil {
		t.Fatal(err)
	}
	recs, bad, next, err := control.ReadAll(ctx, client, "ctl")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || bad != 1 || next[0] != 3 {
		t.Fatalf("ReadAll: %d records, %d bad, next %v; want 2, 1, {0: 3}", len(recs), bad, next)
	}
	if n := control.Newest(recs); n[0].Version != 2 || string(n[0].Doc) != `denylist { globs = ["b.**"] }` || n[1].Version != 1 {
		t.Fatalf("Newest: %+v", n)
	}
	f, err := control.Follow(client, "ctl", next, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := control.Publish(client, "ctl", 3, []byte("shedding { enabled = true }")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-f.C:
		if r.Version != 3 || string(r.Doc) != "shedding { enabled = true }" {
			t.Fatalf("followed %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follower did not hand on version 3")
	}
}
