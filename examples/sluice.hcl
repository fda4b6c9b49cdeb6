# Sluice configuration: every block and setting, with its default — except what is marked EXAMPLE
# (the input's relabel rules, the denylist's globs, the cardinality budgets, the routes, the aggregate), which
# show the syntax and are not defaults: without them nothing is relabeled, denylisted or budgeted.
# To start, copy examples/starter.hcl instead. Check a file with: sluice validate -config FILE
# Durations are strings such as "500ms", "30s", "2m"; sizes such as "512KiB", "1MiB", "1MB".
# env("NAME", "default") reads an environment variable (ECS passes settings that way).

log {
  level  = env("SLUICE_LOG_LEVEL", "info") # trace, debug, info, warn, error
  format = "auto"                          # auto: JSON unless stdout is a terminal; json; text
}

http {
  address = env("SLUICE_HTTP_ADDRESS", "127.0.0.1:9464") # /metrics, /healthz, /readyz (the image sets 0.0.0.0:9464)
  pprof   = false                          # true serves /debug/pprof/ too
}

kafka {
  brokers   = [env("SLUICE_KAFKA_BROKER", "127.0.0.1:9092")]
  client_id = "sluice"
  version   = "3.6.0" # the oldest broker version in the cluster; at least 0.11.0

  # A member that stops heartbeating (a killed task) keeps its partitions this long.
  session_timeout    = "10s"
  heartbeat_interval = "3s" # at most a third of session_timeout
  # How long a rebalance waits for members to join; a member giving partitions up has this long
  # to finish their in-flight batches. Keep it below session_timeout (docs/fleet.md).
  rebalance_timeout = "8s"
  # Static membership, for members with a stable identity (an EC2 host, a fixed slot; not ECS
  # service tasks, which get new ids): a restart within session_timeout keeps the partitions.
  # instance_id = env("HOSTNAME")
  commit_interval    = "1s" # offsets commit only once the output acknowledged everything before them

  # How the group divides input partitions among members (processes × readers):
  # "load": by the load each member measured (sticky where that keeps the balance);
  # "sticky", "range", "roundrobin": sarama's strategies.
  balance = "load"

  # TLS and SASL apply to every connection (inputs, outputs, dead letters). Secrets come from
  # the environment (ECS task secrets) and are never logged.
  # tls {
  #   ca_file     = "/etc/sluice/ca.pem"     # omit to use the system roots
  #   cert_file   = "/etc/sluice/client.pem" # client certificate, with key_file
  #   key_file    = "/etc/sluice/client.key"
  #   server_name = "kafka.internal"         # when brokers are addressed by IP
  # }
  # sasl {
  #   mechanism = "SCRAM-SHA-512"            # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
  #   username  = "sluice"
  #   password  = env("SLUICE_KAFKA_PASSWORD")
  # }
}

# One input block per format. Kafka's group protocol spreads the topics' partitions over every
# reader of every Sluice process in the group.
input "opentsdb" {
  topics = ["metrics.opentsdb"]
  group  = "sluice"

  # Relabel rules (docs/relabel.md), Prometheus' relabel_config with its names and defaults, run
  # in order on each new series before validation, the denylist, budgets, routing and sharding.
  # Defaults: action "replace", separator ";", regex "(.*)" (anchored), replacement "$1".
  # Actions: replace, keep, drop, keepequal, dropequal, hashmod (needs modulus), labelmap,
  # labeldrop, labelkeep, lowercase, uppercase. `sluice relabel -config F` shows what they do.
  # NaN and ±Inf: this input's own policy; unset, validation.allow_non_finite below, except for
  # the Prometheus family (prometheus, remote_write, otlp), which keeps them as Prometheus does.
  # allow_non_finite = false

  # EXAMPLE rules (the default is none):
  relabel {                     # rename host to instance: copy it...
    source_labels = ["host"]
    target_label  = "instance"
  }
  relabel {                     # ...then drop it, with the per-request ids nobody queries
    action = "labeldrop"
    regex  = "host|request_id"
  }
  relabel {                     # drop the test metrics by name
    action        = "drop"
    source_labels = ["__name__"]
    regex         = "test\\..*"
  }
}

pipeline {
  readers = 2 # consumer-group members per process
  # workers = 4 # decode, validate, denylist, shard; default: one per CPU (GOMAXPROCS), at least 4
  # writers = 2 # each owns a contiguous range of shards; default: one per 4 CPUs, at least 2

  batch_bytes   = "1MiB" # a reader's batch of records from one partition...
  batch_records = 8192   # ...holds at most this many records...
  batch_linger  = "50ms" # ...and is sent after this long even when not full
  raw_batches   = 0      # reader→worker batches in the pool; 0 = readers×4 + workers×2

  shard_batch_bytes = "1MiB" # worker→writer batch size
  shard_batches     = 0      # worker→writer batches in the pool; 0 = writers×8 + workers×4

  # SIGTERM: stop fetching, drain, flush, commit, leave the group within this time.
  # Keep it below ECS's stopTimeout (30s by default).
  shutdown_timeout = "20s"

  # The Go soft memory limit. "0": twice the memory budget logged at start (pools, Kafka fetch
  # buffers of every input partition, output buffers, series caches), which leaves the garbage
  # collector its headroom. GOMEMLIMIT in the environment wins. The container's memory should be
  # above it.
  memory_limit = "0"
}

# Restart budget of the root actor: an actor that fails more than max_restarts times within
# `within` is not restarted again; the process then shuts down gracefully and exits with status 3.
supervisor {
  max_restarts = 10
  within       = "1m"
  # A batch whose worker failed is retried by another worker this many times; then the record
  # that fails is dead-lettered (or logged and counted as poison) and the rest delivered.
  redeliveries = 3
}

# Routes each input partition's batches to workers by measured load. Cold partitions are pinned
# to one worker each (order within a partition kept); a partition carrying more than hot_factor ×
# a worker's fair share is spread over several workers (its batches may then reach the output
# out of order; each series stays sorted within a batch).
coordinator {
  enabled    = true
  interval   = "5s" # how often loads are measured and the routing table republished
  hot_factor = 1.1  # above 1: with 2 workers, a partition above 55 % of the load is spread
  max_spread = 8    # at most this many workers for one partition
}

validation {
  max_metric_length    = 256
  max_tag_key_length   = 128
  max_tag_value_length = 256 # values may be any valid UTF-8; names and tag keys: letters, digits, - _ . / :
  max_tags             = 16
  max_age              = "24h"  # older datapoints are dropped (too_old); "0s" keeps any age
  max_future           = "10m"  # datapoints further ahead are dropped (too_new)
  allow_non_finite     = false # drop NaN and ±Inf values (non_finite) of inputs that do not
                               # say otherwise; the Prometheus family (prometheus, remote_write,
                               # otlp) keeps them by default, and the staleness marker always passes
}

# Datapoints whose metric name matches a glob are dropped (denylisted).
# "*" matches within one dot-separated segment, "**" any number of segments.
# EXAMPLE globs (the default is none).
denylist {
  globs = ["test.**", "*.debug.*"]
}

# The control topic (docs/control.md): realtime settings for the whole fleet. Every task reads this
# compacted topic at boot (waiting at most timeout, else starting from this file) and follows it;
# the newest valid control document's blocks (denylist, validation, limits, shedding, coordinator,
# route priorities, inputs' and outputs' relabel rules) replace this file's. Publish with: sluice control set -config F -file doc.hcl
# control {
#   topic   = "sluice.control"
#   timeout = "10s"
# }

# Cardinality budgets (docs/limits.md): at most max_series distinct series per window for the
# metrics a budget's globs match (every metric without match), or for each value of per_tag.
# Over budget, new series are dropped (reason cardinality); series admitted in the window keep
# flowing whole. Decisions depend on the series hash, so every task drops the same series.
# EXAMPLE budgets (the default is none).
limits {
  window = "1h" # aligned to the clock, so every task's windows match
  budget "checkout" {
    match      = ["checkout.**"]
    max_series = 200000
  }
  budget "per-team" {
    per_tag    = "team"   # each team's series count apart...
    max_series = 500000
    max_values = 1000     # ...for the first 1000 teams; the rest share one budget (__other__)
  }
}

# Adaptive shedding under overload (docs/limits.md), off by default: once the worst partition's
# freshness stays above max_lag for `for`, routes of priority best_effort are shed by a loss
# factor min(capacity / demand, 1), then normal ones; critical routes never. Series are kept or
# shed whole, by hash, alike on every task; the factor returns to 1 once the surge is over.
shedding {
  enabled  = false
  max_lag  = "30s"
  for      = "30s"
  interval = "10s"
}

# Prometheus remote-write WriteRequests, snappy-compressed, one Kafka record per shard batch,
# partition = shard, key = shard id, idempotent producer with acks=all.
output "kafka" "tsdb" {
  topic       = "metrics.shards"
  shards      = 16       # series are spread over 16 shards (default: the topic's partition count)
  compression = "none"   # Kafka-level codec; payloads are already snappy-compressed
  flush_bytes = "1MiB"   # each of a writer's shards flushes when it holds its share of this...
  linger      = "200ms"  # ...or when its oldest datapoint waited this long

  # Relabel rules for what this output alone receives, after routing (docs/relabel.md); the
  # output shards series by the labels they leave. None by default.
  # relabel {
  #   action = "labelkeep"
  #   regex  = "__name__|instance|dc"
  # }
}

# EXAMPLE routes (optional with one output, which then gets everything; examples/outputs.hcl has
# several outputs): the first route
# whose globs match a metric decides where it goes. priority is the route's class for shedding:
# critical (never shed), normal (the default) or best_effort (shed first).
route {
  match    = ["debug.**", "*.experimental.**"]
  outputs  = ["tsdb"]
  priority = "best_effort"
}
route {
  match    = ["slo.**", "billing.**"]
  outputs  = ["tsdb"]
  priority = "critical"
}
route {
  outputs  = ["tsdb"]
  priority = "normal"
}

# Streaming aggregation (docs/aggregation.md), named and computed as vmagent's stream
# aggregation. EXAMPLE: a per-pod request counter summed per service per minute. The datapoints
# the globs match go through the aggregate's topic (create it like an output topic, with as many
# partitions as the input topics have) and come out as series such as
# http.requests:1m_without_instance_pod_total, one sample per window stamped with its end, routed
# like any series. Every task computes the output series of the partitions it owns, exactly once
# in effect through crashes and rebalances.
aggregate "requests" {
  match      = ["http.requests.**"]
  interval   = "1m"
  without    = ["pod", "instance"] # or by = [...]; neither: one output series per input series
  outputs    = ["total", "increase", "sum_samples", "count_samples", "count_series", "max"] # quantiles(0.5, 0.99) too, at 8 KiB a series
  keep_input = false                   # also send the matching datapoints on as they came
  lateness   = "30s"                   # windows close this long (in datapoint time) after their end
  max_series = 10000                   # output series per window and partition; beyond, dropped (max_series)
  topic      = "sluice.aggregate.requests"
}
