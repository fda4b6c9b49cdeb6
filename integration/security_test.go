package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/integration/kafkatest"
)

// TestSASLSCRAM runs the pipeline against a broker that requires SASL/SCRAM-SHA-512: with the
// right password every datapoint arrives; with a wrong one Start fails at once with a clear
// error instead of retrying forever; neither password ever appears in the logs, even at trace
// level, nor in the config's printed form.
func TestSASLSCRAM(t *testing.T) {
	const user, pass = "sluice", "s3cret-Pa55word"
	c := kafkatest.StartSCRAM(t, inTopic, 4, outTopic, shards, user, pass)
	lines, exp := kafkatest.Generate(20_000)
	c.Produce(t, inTopic, lines, 100)

	// As in production: the password comes from the environment through env().
	c.KafkaHCL = `sasl {
    mechanism = "SCRAM-SHA-512"
    username  = "sluice"
    password  = env("SLUICE_TEST_KAFKA_PASSWORD")
  }`
	t.Setenv("SLUICE_TEST_KAFKA_PASSWORD", pass)
	cfg := c.Config(t, inTopic, outTopic, shards, sizes)
	log, rec := kafkatest.RecordingLogger(t, "trace")
	p, err := actors.New(cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("start with the right password: %v", err)
	}
	kafkatest.WaitFor(t, time.Minute, "every line to be written or dropped", done(p, exp))
	s := stop(t, p)
	checkOutput(t, c, exp, s, true)

	t.Setenv("SLUICE_TEST_KAFKA_PASSWORD", "not-the-Pa55word")
	bad := c.Config(t, inTopic, outTopic, shards, sizes)
	wrong := *bad.Kafka.SASL
	p2, err := actors.New(bad, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	err = p2.Start(ctx)
	if err == nil {
		p2.Stop(context.Background())
		t.Fatal("started with a wrong password")
	}
	if !strings.Contains(err.Error(), "SASL") || !strings.Contains(err.Error(), "kafka.sasl") {
		t.Errorf("the error does not say authentication failed: %v", err)
	}
	t.Logf("a wrong password failed Start after %s: %v", time.Since(began).Round(time.Millisecond), err)
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("a wrong password took %s to fail; it must fail at start, not retry", d)
	}

	for _, secret := range []string{pass, wrong.Password} {
		if strings.Contains(rec.String(), secret) {
			t.Errorf("a password appears in the logs")
		}
		for _, form := range []string{fmt.Sprintf("%v", *cfg.Kafka.SASL), fmt.Sprintf("%+v", cfg.Kafka.SASL), fmt.Sprintf("%#v", *bad.Kafka.SASL)} {
			if strings.Contains(form, secret) {
				t.Errorf("a printed config shows the password: %s", form)
			}
		}
	}
}

// TestTLS runs the pipeline against a broker that only speaks TLS, trusting its certificate
// through kafka { tls { ca_file } } and checking its name; a config without the CA fails at
// start with a certificate error.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	serverTLS, caFile := selfSignedCA(t, dir)
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	c := kafkatest.StartTLS(t, inTopic, 4, outTopic, shards, serverTLS, &tls.Config{RootCAs: pool, ServerName: "kafka.test"})
	lines, exp := kafkatest.Generate(20_000)
	c.Produce(t, inTopic, lines, 100)

	c.KafkaHCL = fmt.Sprintf(`tls {
    ca_file     = %q
    server_name = "kafka.test"
  }`, caFile)
	p, err := actors.New(c.Config(t, inTopic, outTopic, shards, sizes), kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("start over TLS: %v", err)
	}
	kafkatest.WaitFor(t, time.Minute, "every line to be written or dropped", done(p, exp))
	checkOutput(t, c, exp, stop(t, p), true)

	// Without the CA, the system roots do not trust the broker.
	c.KafkaHCL = `tls { server_name = "kafka.test" }`
	p2, err := actors.New(c.Config(t, inTopic, outTopic, shards, sizes), kafkatest.Logger(t, "warn"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p2.Start(ctx); err == nil {
		p2.Stop(context.Background())
		t.Fatal("started without trusting the broker's certificate")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("the error does not name the certificate problem: %v", err)
	}
}

// selfSignedCA makes a CA and a server certificate for "kafka.test" signed by it, writes the CA
// to dir, and returns the server's TLS config and the CA file.
func selfSignedCA(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka.test"},
		DNSNames: []string{"kafka.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, caFile
}
