# The coordinator tuned to spread a partition sooner: what `sluice bench -config` uses for the
# hot-partition figures in docs/performance.md. With two workers a worker's fair share is half the
# load, so the default hot_factor (1.5) spreads a partition only above 75 % of all load; 1.1
# spreads one above 55 %. Brokers, inputs and outputs are replaced by `sluice bench`.
input "opentsdb" {
  topics = ["metrics.opentsdb"]
}

output "kafka" "shards" {
  topic = "metrics.shards"
}

log {
  level = "warn"
}

coordinator {
  hot_factor = 1.1
}
