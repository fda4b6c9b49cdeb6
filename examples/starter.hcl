# A starter config: one input, one output, nothing dropped but what fails validation's defaults.
# Edit the brokers and topics, check it with `sluice validate -config starter.hcl`, run it with
# `sluice run -config starter.hcl` (or against the embedded broker: `sluice run -dev -config
# starter.hcl`, which creates these topics). examples/sluice.hcl documents every block and setting.

kafka {
  brokers = [env("SLUICE_KAFKA_BROKER", "127.0.0.1:9092")]
}

# What your agents write: opentsdb, graphite, influx, prometheus, json, remote_write or otlp.
input "opentsdb" {
  topics = ["metrics.opentsdb"]
}

# Prometheus remote-write batches, one Kafka record per shard, on the shard topic (partition =
# shard). For a TSDB over HTTP instead: output "remote_write" "tsdb" { urls = ["http://..."] }.
output "kafka" "tsdb" {
  topic = "metrics.shards"
}
