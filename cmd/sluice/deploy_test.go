package main

import (
	"encoding/json"
	"net"
	"os"
	"slices"
	"strconv"
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
	cfg, err := config.LoadFile("../../examples/sluice.hcl")
	if err != nil {
		t.Fatalf("the example config with the task's environment: %v", err)
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
	if cfg.Kafka.Brokers[0] != env["SLUICE_KAFKA_BROKER"] {
		t.Errorf("brokers %v, the task sets %s", cfg.Kafka.Brokers, env["SLUICE_KAFKA_BROKER"])
	}
	if want := []string{"run", "-config", "/etc/sluice/sluice.hcl"}; c.Command != nil && !slices.Equal(c.Command, want) {
		t.Errorf("command %q, want %q", c.Command, want)
	}
}
