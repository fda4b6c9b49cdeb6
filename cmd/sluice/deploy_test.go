package main

import (
	"encoding/json"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

// TestECSTaskDefinition checks examples/ecs/task-definition.json against what the binary and the
// example config need: the health check is the binary, ECS waits longer than the shutdown
// timeout before SIGKILL, logs go to CloudWatch, and every env() the config reads without a
// default is provided.
func TestECSTaskDefinition(t *testing.T) {
	raw, err := os.ReadFile("../../examples/ecs/task-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	var td struct {
		ContainerDefinitions []struct {
			Name         string   `json:"name"`
			Command      []string `json:"command"`
			PortMappings []struct {
				ContainerPort int `json:"containerPort"`
			} `json:"portMappings"`
			Environment []struct{ Name, Value string } `json:"environment"`
			Secrets     []struct {
				Name      string `json:"name"`
				ValueFrom string `json:"valueFrom"`
			} `json:"secrets"`
			HealthCheck struct {
				Command []string `json:"command"`
				Timeout int      `json:"timeout"`
			} `json:"healthCheck"`
			StopTimeout      int `json:"stopTimeout"`
			LogConfiguration struct {
				LogDriver string `json:"logDriver"`
			} `json:"logConfiguration"`
		} `json:"containerDefinitions"`
	}
	if err := json.Unmarshal(raw, &td); err != nil {
		t.Fatalf("task definition: %v", err)
	}
	if len(td.ContainerDefinitions) != 1 {
		t.Fatalf("%d containers; want sluice alone", len(td.ContainerDefinitions))
	}
	c := td.ContainerDefinitions[0]
	if want := []string{"CMD", "/sluice", "health"}; !slices.Equal(c.HealthCheck.Command, want) {
		t.Errorf("healthCheck.command %q, want %q", c.HealthCheck.Command, want)
	}
	if c.HealthCheck.Timeout < 2 {
		t.Errorf("healthCheck.timeout %d s: sluice health needs up to 1.5 s", c.HealthCheck.Timeout)
	}
	if c.LogConfiguration.LogDriver != "awslogs" {
		t.Errorf("log driver %q, want awslogs", c.LogConfiguration.LogDriver)
	}

	env := map[string]string{}
	for _, e := range c.Environment {
		env[e.Name] = e.Value
	}
	for _, s := range c.Secrets {
		env[s.Name] = "secret from " + s.ValueFrom
	}
	if _, ok := env["SLUICE_KAFKA_PASSWORD"]; !ok {
		t.Error("no SLUICE_KAFKA_PASSWORD secret for the config's sasl block")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	baked := bakedConfig(t)
	cfg, err := config.LoadFile(baked)
	if err != nil {
		t.Fatalf("%s, the image's config, with the task's environment: %v", baked, err)
	}
	if stop := time.Duration(c.StopTimeout) * time.Second; stop <= cfg.Pipeline.ShutdownTimeout {
		t.Errorf("stopTimeout %s is not above pipeline.shutdown_timeout %s: ECS would SIGKILL a draining task", stop, cfg.Pipeline.ShutdownTimeout)
	}
	_, port, _ := net.SplitHostPort(cfg.HTTP.Address)
	if len(c.PortMappings) == 0 || strconv.Itoa(c.PortMappings[0].ContainerPort) != port {
		t.Errorf("port mappings %v do not expose the http port %s", c.PortMappings, port)
	}
	if host, _, _ := net.SplitHostPort(cfg.HTTP.Address); host != "0.0.0.0" {
		t.Errorf("http.address %s in the task: Prometheus could not scrape it from outside the container", cfg.HTTP.Address)
	}
	if strings.Join(cfg.Kafka.Brokers, ",") != env["SLUICE_KAFKA_BROKERS"] {
		t.Errorf("brokers %v, the task sets %s", cfg.Kafka.Brokers, env["SLUICE_KAFKA_BROKERS"])
	}
	// MSK's SASL/SCRAM port is a TLS listener: SCRAM without TLS there cannot connect.
	for _, b := range cfg.Kafka.Brokers {
		if strings.HasSuffix(b, ":9096") && (cfg.Kafka.TLS == nil || cfg.Kafka.SASL == nil || !strings.HasPrefix(cfg.Kafka.SASL.Mechanism, "SCRAM-")) {
			t.Errorf("broker %s is MSK's SASL/SCRAM (TLS) port, but the config has tls %v and sasl %v", b, cfg.Kafka.TLS != nil, cfg.Kafka.SASL)
		}
	}
	// Neutral: what the image runs drops nothing a user did not ask for.
	if len(cfg.Denylist.Globs) > 0 || cfg.Denylist.File != "" || len(cfg.Limits.Budgets) > 0 {
		t.Errorf("the image's config denylists %v (file %q) or sets %d budgets", cfg.Denylist.Globs, cfg.Denylist.File, len(cfg.Limits.Budgets))
	}
	for _, in := range cfg.Inputs {
		if len(in.Relabel) > 0 {
			t.Errorf("the image's config relabels input %s", in.Format)
		}
	}
	if want := []string{"run", "-config", "/etc/sluice/sluice.hcl"}; c.Command != nil && !slices.Equal(c.Command, want) {
		t.Errorf("command %q, want %q", c.Command, want)
	}
}

// bakedConfig is the file the Dockerfile copies to /etc/sluice/sluice.hcl, relative to here.
func bakedConfig(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "COPY" && f[2] == "/etc/sluice/sluice.hcl" {
			return "../../" + f[1]
		}
	}
	t.Fatal("the Dockerfile copies no file to /etc/sluice/sluice.hcl")
	return ""
}
