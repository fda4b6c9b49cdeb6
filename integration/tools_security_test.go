package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
	"github.com/sluicehq/sluice/integration/sluicetest"
)

// TestToolsOverTLSAndSCRAM: every subcommand that talks to Kafka reaches a cluster secured as a
// managed Kafka is (TLS and SASL/SCRAM-SHA-512 on one listener) through -config, the kafka block
// the tasks run with. A pipeline writes shard records and dead letters there; `sluice tail`
// prints the datapoints, `sluice dlq stats` counts the dead letters, `sluice redrive -dry-run`
// would redrive them and `sluice loadgen` produces. With a wrong password each exits 1 at once,
// saying which brokers it could not reach and that the SASL login failed.
func TestToolsOverTLSAndSCRAM(t *testing.T) {
	const in, out, dlq, shards = "sec.in", "sec.out", "sec.dlq", 2
	const user, pass = "sluice", "Tls-and-Scram-5ecret"
	dir := t.TempDir()
	serverTLS, caFile := selfSignedCA(t, dir)
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	c := kafkatest.StartTLSSCRAM(t, in, 2, out, shards, serverTLS, &tls.Config{RootCAs: pool, ServerName: "kafka.test"}, user, pass)
	c.CreateTopic(t, dlq, 1)

	now := time.Now().Add(-time.Minute).Unix()
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "put sec.metric %d %d host=h%d\n", now, i, i%5)
	}
	for range 7 {
		b.WriteString("put not.enough.fields\n")
	}
	c.ProduceRecords(t, in, [][]byte{[]byte(b.String())}, time.Now())

	configFile := func(password string) string {
		c.KafkaHCL = fmt.Sprintf(`tls {
    ca_file     = %q
    server_name = "kafka.test"
  }
  sasl {
    mechanism = "SCRAM-SHA-512"
    username  = %q
    password  = %q
  }`, caFile, user, password)
		return c.ConfigSource(fmt.Sprintf("input \"opentsdb\" {\n  topics = [%q]\n  group = \"sec\"\n}\n", in), out, shards, "",
			fmt.Sprintf("dead_letter { topic = %q }", dlq))
	}
	src := configFile(pass)
	cfg := c.ConfigFor(t, fmt.Sprintf("input \"opentsdb\" {\n  topics = [%q]\n  group = \"sec\"\n}\n", in), out, shards, "",
		fmt.Sprintf("dead_letter { topic = %q }", dlq))
	p, err := actors.New(cfg, kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitFor(t, time.Minute, "the lines written and dead-lettered", func() bool {
		s := p.Stats()
		return s.DatapointsOut == 50 && s.DeadLettered == 7
	})
	stopClean(t, p)

	good := sluicetest.WriteConfig(t, src)
	code, stdout, stderr := sluiceTool(t, "tail", "-config", good, "-from", "oldest", "-n", "50")
	if code != 0 || strings.Count(stdout, "sec.metric") != 50 {
		t.Fatalf("tail -config over TLS and SCRAM: exit %d, %d datapoints\n%s%s", code, strings.Count(stdout, "sec.metric"), stdout, stderr)
	}
	code, stdout, stderr = sluiceTool(t, "dlq", "stats", "-config", good) // the topic from dead_letter
	if code != 0 || !strings.Contains(stdout, "7") || !strings.Contains(stdout, "unparseable") {
		t.Fatalf("dlq stats -config: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = sluiceTool(t, "redrive", "-config", good, "-reason", "unparseable", "-dry-run")
	if code != 0 || !strings.Contains(stdout, "7 records would be redriven (dry run)") {
		t.Fatalf("redrive -config -dry-run: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = sluiceTool(t, "loadgen", "-config", good, "-topic", in, "-rate", "2000", "-duration", "1s")
	if code != 0 || !strings.Contains(stdout, "0 failed") {
		t.Fatalf("loadgen -config: exit %d\n%s%s", code, stdout, stderr)
	}

	bad := sluicetest.WriteConfig(t, configFile("not-the-password"))
	for _, args := range [][]string{
		{"tail", "-config", bad, "-n", "1"},
		{"dlq", "stats", "-config", bad},
		{"redrive", "-config", bad, "-dry-run"},
		{"loadgen", "-config", bad, "-topic", in, "-duration", "1s"},
	} {
		began := time.Now()
		code, _, stderr := sluiceTool(t, args...)
		took := time.Since(began)
		t.Logf("sluice %s with a wrong password, after %s: %s", args[0], took.Round(time.Millisecond), strings.TrimSpace(stderr))
		if code != 1 || !strings.Contains(stderr, "cannot reach Kafka at "+c.Addrs[0]) || !strings.Contains(stderr, "kafka.sasl") {
			t.Errorf("%s with a wrong password: exit %d, want 1 with the brokers and a SASL hint:\n%s", args[0], code, stderr)
		}
		if strings.Contains(stderr, "not-the-password") {
			t.Errorf("%s printed the password", args[0])
		}
		if took > 20*time.Second {
			t.Errorf("%s took %s to fail", args[0], took)
		}
	}
	// A bad -reason is refused before any connection.
	if code, _, stderr := sluiceTool(t, "redrive", "-config", good, "-reason", "bogus"); code != 1 || !strings.Contains(stderr, `-reason "bogus"`) {
		t.Errorf("redrive -reason bogus: exit %d\n%s", code, stderr)
	}
}
