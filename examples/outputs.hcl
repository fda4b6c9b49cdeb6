# Several outputs and routes: the ads namespace goes to its Goku cluster's shard topic, the
# pinner latencies are double-written to that topic and to VictoriaMetrics during a migration,
# the checkout namespace goes to an OpenTelemetry Collector over OTLP, and everything else goes to VictoriaMetrics (two replicas) over remote write.
#
#   sluice validate -config examples/outputs.hcl

kafka {
  brokers = ["127.0.0.1:9092"]
}

input "opentsdb" {
  topics = ["metrics.opentsdb"]
}

# One Kafka record per shard and flush, partition = shard. shards defaults to the topic's
# partition count.
output "kafka" "goku_ads" {
  topic    = "goku.ads.shards"
  linger   = "200ms"
  protocol = "1.0" # 2.0: io.prometheus.write.v2.Request records with a sluice-remote-write-version header
}

# Prometheus remote write over HTTP. Requests rotate over the URLs whose circuit breaker is
# closed; each series appears once per request with its samples in timestamp order.
output "remote_write" "vm" {
  protocol = "1.0" # or "2.0" (Prometheus 3, Mimir): a symbols table, ~27 % fewer bytes, more CPU;
                   # native histograms and metadata (type, unit, help) from OTLP inputs
  urls = [
    "http://vm-a.internal:8428/api/v1/write",
    "http://vm-b.internal:8428/api/v1/write",
  ]
  headers      = { "X-Scope-OrgID" = "pinterest" }
  bearer_token = env("SLUICE_VM_TOKEN", "")
  # or: basic_auth { username = "sluice"  password = env("SLUICE_VM_PASSWORD") }
  timeout           = "30s"    # per request
  concurrency       = 4        # parallel requests: the output's shards
  max_batch_samples = 10000    # per request
  max_batch_bytes   = "4MiB"   # per request, before compression
  flush_bytes       = "1MiB"   # a shard flushes when it holds its share of this...
  linger            = "200ms"  # ...or when its oldest datapoint waited this long
  probe_at_start    = true     # an empty request to each URL at start: a refusal or no URL
                               # reachable within 10s fails the start (exit 1)

  # 5xx, 429 and network errors are retried with exponential backoff and full jitter, honouring
  # Retry-After (up to max_backoff); other 4xx go to the dead-letter topic at once, as does a
  # request still failing after max_elapsed ("0s": retry for ever).
  retry {
    min_backoff = "100ms"
    max_backoff = "10s"
    max_elapsed = "5m"
  }
  # An endpoint that fails 5 times in a row gets no requests for 10s, then one probe.
  breaker {
    failures  = 5
    cool_down = "10s"
  }
}

# OTLP/HTTP protobuf metrics to an OpenTelemetry Collector (or Prometheus 3's
# /api/v1/otlp/v1/metrics): each series a gauge, gzip-compressed; the same HTTP settings as
# remote_write, but protocol.
output "otlp" "collector" {
  urls        = ["http://otel-collector.internal:4318/v1/metrics"]
  concurrency = 2
}

# Routes are checked in order; the first whose globs match the metric name wins. A route without
# match is the default; without one, a datapoint no route matches is dropped (reason unrouted).
route {
  match   = ["ads.**"]
  outputs = ["goku_ads"]
}

route {
  match   = ["pinner.*.latency"]
  outputs = ["goku_ads", "vm"]   # double-write
}

route {
  match   = ["checkout.**"]
  outputs = ["collector"]
}

route {
  outputs = ["vm"]
}

dead_letter {
  topic = "metrics.dead"
}
