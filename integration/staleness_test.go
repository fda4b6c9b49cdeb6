package integration

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/proto/prompb"
)

// TestStalenessMarker: a series and then its staleness marker (Prometheus' NaN
// 0x7ff0000000000002), read from Kafka as remote-write records, reach a real Prometheus over
// remote write — whose instant query then no longer shows the series, where a series without the
// marker is still there (5 minutes of lookback) — and a Kafka shard topic, where `sluice tail`
// shows the marker's exact bits.
func TestStalenessMarker(t *testing.T) {
	prom := startPrometheus(t)
	const shardTopic = "stale.shards"
	c := kafkatest.Start(t, rwIn, 2, shardTopic, 2)
	now := time.Now().Truncate(time.Second)
	stale := math.Float64frombits(messages.StaleNaN)
	var wr prompb.WriteRequest
	for _, job := range []string{"gone", "alive"} {
		ts := &prompb.TimeSeries{Labels: []*prompb.Label{{Name: "__name__", Value: "stale_test_up"}, {Name: "job", Value: job}}}
		for i := 6; i >= 2; i-- {
			ts.Samples = append(ts.Samples, &prompb.Sample{Value: 1, Timestamp: now.Add(-time.Duration(i) * 10 * time.Second).UnixMilli()})
		}
		if job == "gone" {
			ts.Samples = append(ts.Samples, &prompb.Sample{Value: stale, Timestamp: now.Add(-10 * time.Second).UnixMilli()})
		}
		wr.Timeseries = append(wr.Timeseries, ts)
	}
	raw, err := proto.Marshal(&wr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := startRW(t, rwConfigInput(t, c, "remote_write", fmt.Sprintf(`output "remote_write" "prom" {
  urls   = [%q]
  linger = "20ms"
}
output "kafka" "shards" {
  topic  = %q
  linger = "20ms"
}
route { outputs = ["prom", "shards"] }`, prom.writeURL(), shardTopic)))
	c.ProduceRecords(t, rwIn, [][]byte{snappy.Encode(nil, raw)}, now)
	waitOut(t, p, 2*11) // 11 samples, to both outputs
	s := stopClean(t, p)
	if s.Dropped.Total() != 0 {
		t.Fatalf("drops %v: the staleness marker must pass validation", s.Dropped)
	}

	// Prometheus: at now the "alive" series is within its lookback, the "gone" one is stale.
	kafkatest.WaitFor(t, 30*time.Second, "the alive series in Prometheus", func() bool {
		return len(prom.promQuery(t, `stale_test_up{job="alive"}`)) == 1
	})
	if r := prom.promQuery(t, `stale_test_up{job="gone"}`); len(r) != 0 {
		t.Fatalf("the series with a staleness marker is still in an instant query: %v", r)
	}
	if r := prom.promQuery(t, fmt.Sprintf(`count_over_time(stale_test_up{job="gone"}[5m] @ %d)`, now.Unix())); len(r) != 1 || r[0].Value[1] != "5" {
		t.Fatalf("the gone series' five samples before the marker: %v", r)
	}

	// The shard topic, read back as an SRE would: the marker's bits, exactly.
	code, out, stderr := sluiceTool(t, "tail", "-brokers", c.Addrs[0], "-topic", shardTopic, "-from", "oldest", "-n", "11")
	if code != 0 {
		t.Fatalf("sluice tail: exit %d\n%s", code, stderr)
	}
	if n := strings.Count(out, "NaN(0x7ff0000000000002)"); n != 1 || !strings.Contains(out, `job="gone"} NaN(0x7ff0000000000002) `) {
		t.Fatalf("sluice tail shows the marker %d times, want once on the gone series:\n%s", n, out)
	}
}
