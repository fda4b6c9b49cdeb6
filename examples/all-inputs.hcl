# One input block per format, each with the settings it takes, plus a dead-letter topic.
# Check it with: sluice validate -config examples/all-inputs.hcl
# See sluice.hcl for every other block. Try a format with: sluice decode -format FORMAT < sample

kafka {
  brokers = [env("SLUICE_KAFKA_BROKER", "127.0.0.1:9092")]
}

# Settings every input takes:
#   topics        the topics carrying this format (a topic carries one format)
#   group         the consumer group (default "sluice")
#   default_tags  added to every datapoint that lacks the key
#   metric_prefix prepended to every metric name

input "opentsdb" { # put <metric> <timestamp> <value> <tagk=tagv>...
  topics       = ["metrics.opentsdb"]
  default_tags = { source = "tcollector" }
}

input "graphite" { # path value [timestamp], path;tag=v;... value [timestamp]
  topics        = ["metrics.graphite"]
  metric_prefix = "graphite."
}

input "influx" { # InfluxDB line protocol
  topics           = ["metrics.influx"]
  precision        = "ns"   # of the line timestamps: ns, us, ms or s
  field_separator  = "_"    # cpu,host=a usage_user=1 -> cpu_usage_user
  value_field_bare = false  # true: a field named "value" keeps the bare measurement name
  default_tags     = { source = "telegraf" }
}

input "prometheus" { # text exposition format 0.0.4
  topics = ["metrics.prometheus"]
}

input "json" { # OpenTSDB /api/put bodies: one object or an array of them
  topics = ["metrics.json"]
}

input "remote_write" { # a Prometheus remote-write WriteRequest per record, snappy or raw
  topics = ["metrics.remote_write"]
}

input "otlp" { # an OTLP ExportMetricsServiceRequest per record (the Collector's kafkaexporter)
  topics      = ["otlp_metrics"]
  encoding    = "otlp_proto"   # the kafkaexporter's default; otlp_json; auto: either
  translation = "prometheus"   # unit and type suffixes (_seconds, _total, _ratio); keep: names as they are
  # service.namespace/service.name become job, service.instance.id instance; these become labels too:
  promote_resource_attributes = ["k8s.cluster.name", "cloud.region"]
  # Exponential histograms become native histograms, and every metric's type, unit and
  # description its metadata: outputs with protocol = "2.0" carry both; a 1.0 output counts the
  # native histograms as dropped (reason unsupported).
}

output "kafka" "tsdb" {
  topic        = "metrics.shards"
  name_mapping = "prometheus" # keep: names pass through; prometheus: [^a-zA-Z0-9_:] -> _
}

# Unparseable lines go here, one record each, with headers sluice-source-topic,
# sluice-source-partition, sluice-source-offset, sluice-reason and sluice-detail.
dead_letter {
  topic = "metrics.dead_letter"
}
