package config

// Validation of the output and route blocks: where datapoints go.

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/glob"
	"github.com/sluicehq/sluice/parse/formats"
)

func (c *Config) validateOutputs(v *validator) {
	if len(c.Outputs) == 0 {
		v.errorf("", "", "No output", `Add an output block, such as: output "kafka" "tsdb" { topic = "metrics.shards" }.`)
	}
	names := map[string]bool{}
	exactlyOnce := ""
	for _, o := range c.Outputs {
		key := "output." + o.Type + "." + o.Name
		if !contains(OutputTypes, o.Type) {
			v.errorf(key, "", "Unsupported output type", "%q is not an output type%s: use one of %s.", o.Type, didYouMean(o.Type, OutputTypes), strings.Join(OutputTypes, ", "))
			continue
		}
		if names[o.Name] {
			v.errorf(key, "", "Duplicate output name", "There is already an output named %q; routes name outputs, so names must differ.", o.Name)
		}
		names[o.Name] = true
		for _, attr := range sortedKeys(outputSettings) {
			types := outputSettings[attr]
			if _, ok := v.pos[key+"."+attr]; ok && !contains(types, o.Type) {
				v.errorf(key, attr, "Setting for another output type", "%s applies to %s outputs only.", attr, strings.Join(types, " and "))
			}
		}
		if o.Protocol != ProtocolV1 && o.Protocol != ProtocolV2 {
			v.errorf(key, "protocol", "Unknown remote-write protocol", "%q: use 1.0 (prometheus.WriteRequest) or 2.0 (io.prometheus.write.v2.Request).", o.Protocol)
		}
		if m, ok := formats.ParseNameMapping(o.NameMappingRaw); ok {
			o.NameMapping = m
		} else {
			v.errorf(key, "name_mapping", "Invalid name_mapping", "%q: use keep (names pass through) or prometheus (characters outside [a-zA-Z0-9_:] become _).", o.NameMappingRaw)
		}
		if o.NameMapping != c.Outputs[0].NameMapping {
			v.errorf(key, "name_mapping", "Outputs disagree on name_mapping", "Every output must use the same name_mapping (%s has %q): a series is named once, before it is sharded.",
				c.Outputs[0].Name, c.Outputs[0].NameMappingRaw)
		}
		switch {
		case o.Delivery != DeliveryAtLeastOnce && o.Delivery != DeliveryExactlyOnce:
			v.errorf(key, "delivery", "Unknown delivery", "%q: use at_least_once (a crash writes what followed the last commit again) or exactly_once (Kafka transactions).", o.Delivery)
		case o.Delivery == DeliveryExactlyOnce && exactlyOnce != "":
			v.errorf(key, "delivery", "Two exactly-once outputs", "Output %q is exactly_once already: one transaction per task carries one output's records with the input offsets.", exactlyOnce)
		case o.Delivery == DeliveryExactlyOnce && len(c.Aggregates) > 0:
			v.errorf(key, "delivery", "Exactly-once with aggregation", "Aggregation commits its own checkpoints outside the transaction; remove the aggregate blocks or use at_least_once.")
		case o.Delivery == DeliveryExactlyOnce:
			exactlyOnce = o.Name
		}
		v.resolveWriting(key, o)
		switch o.Type {
		case OutputKafka:
			if o.Topic == "" {
				v.errorf(key, "topic", "Missing topic", "A kafka output needs the topic its shard records go to.")
			}
			if o.Shards < 0 {
				v.errorf(key, "shards", "Negative shards", "shards is %d; use 1 or more, or leave it out for the topic's partition count.", o.Shards)
			}
		case OutputRemoteWrite, OutputOTLP:
			c.validateHTTPOutput(v, key, o)
		}
	}
}

// resolveWriting checks and resolves how an output writes (its batching, retry and, for Kafka,
// compression): a configured output's, or an aggregate's internal one (key is the block either is in).
func (v *validator) resolveWriting(key string, o *Output) {
	o.FlushBytes = v.size(key, "flush_bytes", o.FlushBytesRaw, 1<<10, 64<<20)
	o.Linger = v.duration(key, "linger", o.LingerRaw, time.Millisecond)
	r := o.Retry
	r.MinBackoff = v.duration(key+".retry", "min_backoff", r.MinBackoffRaw, time.Millisecond)
	r.MaxBackoff = v.duration(key+".retry", "max_backoff", r.MaxBackoffRaw, time.Millisecond)
	r.MaxElapsed = v.duration(key+".retry", "max_elapsed", r.MaxElapsedRaw, 0)
	if r.MaxBackoff < r.MinBackoff {
		v.errorf(key+".retry", "max_backoff", "max_backoff below min_backoff", "max_backoff (%s) must be at least min_backoff (%s).", r.MaxBackoff, r.MinBackoff)
	}
	if o.Type != OutputKafka {
		return
	}
	if codec, ok := codecs[o.Compression]; ok {
		o.CompressionCodec = codec
	} else {
		v.errorf(key, "compression", "Invalid compression", "%q: use none, gzip, snappy, lz4 or zstd. Payloads are already snappy-compressed remote-write requests, so none is usual.", o.Compression)
	}
}

// validateHTTPOutput checks a remote_write or otlp output's settings.
func (c *Config) validateHTTPOutput(v *validator, key string, o *Output) {
	if len(o.URLs) == 0 {
		example := `"http://victoria-metrics:8428/api/v1/write"`
		if o.Type == OutputOTLP {
			example = `"http://otel-collector:4318/v1/metrics"`
		}
		v.errorf(key, "urls", "No URLs", "A %s output needs the receiver's URL, such as urls = [%s].", o.Type, example)
	}
	for _, raw := range o.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(key, "urls", "Invalid URL", "%q is not an http:// or https:// URL.", raw)
		}
	}
	for h := range o.Headers {
		switch http.CanonicalHeaderKey(h) {
		case "Content-Type", "Content-Encoding", "X-Prometheus-Remote-Write-Version", "Content-Length":
			v.errorf(key, "headers", "Reserved header", "%s is set by the %s protocol.", h, o.Type)
		}
	}
	if o.BasicAuth != nil && o.BearerToken != "" {
		v.errorf(key, "bearer_token", "Two kinds of credentials", "Use basic_auth or bearer_token, not both.")
	}
	if o.BasicAuth != nil && (o.BasicAuth.Username == "" || o.BasicAuth.Password == "") {
		v.errorf(key+".basic_auth", "password", "Empty credentials", `basic_auth needs a username and a password, best from the environment: password = env("SLUICE_RW_PASSWORD").`)
	}
	o.Timeout = v.duration(key, "timeout", o.TimeoutRaw, 10*time.Millisecond)
	if o.Concurrency < 1 || o.Concurrency > 1024 {
		v.errorf(key, "concurrency", "Invalid concurrency", "concurrency is %d; use 1 to 1024 parallel requests.", o.Concurrency)
	}
	if o.MaxBatchSamples < 1 {
		v.errorf(key, "max_batch_samples", "Must be at least 1", "max_batch_samples is %d; it must be at least 1.", o.MaxBatchSamples)
	}
	o.MaxBatchBytes = v.size(key, "max_batch_bytes", o.MaxBatchBytesRaw, 1<<10, 1<<30)
	b := o.Breaker
	if b.Failures < 1 {
		v.errorf(key+".breaker", "failures", "Must be at least 1", "failures is %d; an endpoint's breaker opens after this many consecutive failures.", b.Failures)
	}
	b.CoolDown = v.duration(key+".breaker", "cool_down", b.CoolDownRaw, 10*time.Millisecond)
}

// validateRoutes checks route blocks against the outputs: every name exists, no route hides
// behind a catch-all, and (a warning) every output is used.
func (c *Config) validateRoutes(v *validator) {
	if len(c.Routes) == 0 {
		if len(c.Outputs) > 1 {
			o := c.Outputs[1]
			v.errorf("output."+o.Type+"."+o.Name, "", "Several outputs and no route",
				`Add route blocks to say which datapoints go where, such as: route { match = ["ads.**"] outputs = [%q] } and a default route { outputs = [%q] }.`,
				c.Outputs[0].Name, o.Name)
		}
		return
	}
	used := map[string]bool{}
	catchAll := -1
	for i, r := range c.Routes {
		key := "route[" + strconv.Itoa(i) + "]"
		r.deriveDefaults()
		if !contains(Priorities, r.Priority) {
			v.errorf(key, "priority", "Unknown priority", "%q is not a priority: use critical (never shed), normal or best_effort (shed first).", r.Priority)
		}
		if catchAll >= 0 {
			v.errorf(key, "", "Unreachable route", "Route %d matches every metric, so this route is never checked: routes are checked in order and the first match wins. Move it above, or remove it.", catchAll+1)
		} else if r.CatchAll() {
			catchAll = i
		}
		if _, ok := v.pos[key+".match"]; ok && len(r.Match) == 0 {
			v.errorf(key, "match", "Empty match", "List at least one glob, or leave match out for a default route.")
		}
		if _, err := glob.Compile(r.Match); err != nil {
			v.errorf(key, "match", "Invalid glob", "%v.", err)
		}
		if len(r.Outputs) == 0 {
			v.errorf(key, "outputs", "No outputs", "A route names at least one output.")
		}
		seen := map[string]bool{}
		for _, name := range r.Outputs {
			if c.Output(name) == nil {
				var all []string
				for _, o := range c.Outputs {
					all = append(all, o.Name)
				}
				v.errorf(key, "outputs", "Unknown output", "No output is named %q%s; the outputs are %s.", name, didYouMean(name, all), strings.Join(all, ", "))
			}
			if seen[name] {
				v.errorf(key, "outputs", "Output named twice", "%q is listed twice in one route.", name)
			}
			seen[name] = true
			used[name] = true
		}
	}
	for _, o := range c.Outputs {
		if !used[o.Name] {
			v.warnf("output."+o.Type+"."+o.Name, "", "Output no route uses", "No route names %q, so nothing is written to it.", o.Name)
		}
	}
}
