# The config baked into the image (Dockerfile) for ECS: neutral — it reads one input topic and
# writes one output topic, and drops only what fails validation's defaults (no denylist, no
# budgets, no relabeling). Start from it and add what your fleet needs; examples/sluice.hcl
# documents every block. What differs per environment comes from the task's `environment` and
# `secrets` (task-definition.json) through env().

log {
  level = env("SLUICE_LOG_LEVEL", "info")
}

http {
  # The image sets SLUICE_HTTP_ADDRESS=0.0.0.0:9464 so that Prometheus can scrape the task.
  address = env("SLUICE_HTTP_ADDRESS", "0.0.0.0:9464")
}

kafka {
  # MSK's SASL/SCRAM bootstrap brokers (port 9096), comma-separated, as the MSK console lists them.
  brokers = split(",", env("SLUICE_KAFKA_BROKERS"))
  version = "3.6.0"

  # MSK's SASL/SCRAM listener is TLS: both blocks are needed. Its certificates come from public
  # CAs, which the image's system roots hold; set ca_file for a private CA.
  tls {}
  sasl {
    mechanism = "SCRAM-SHA-512"
    username  = env("SLUICE_KAFKA_USERNAME", "sluice")
    password  = env("SLUICE_KAFKA_PASSWORD") # a task secret (Secrets Manager); never logged
  }
}

input "influx" {
  topics = [env("SLUICE_INPUT_TOPIC", "metrics.influx")]
  group  = env("SLUICE_GROUP", "sluice")
  # A new consumer group starts at the topic's oldest record (its whole retention); "newest"
  # starts at what is produced after the first start.
  initial_offset = "oldest"
}

output "kafka" "tsdb" {
  topic = env("SLUICE_OUTPUT_TOPIC", "metrics.shards")
}

# Lines Sluice cannot use, and records the output refuses, go here with the reason in headers.
dead_letter {
  topic = env("SLUICE_DEAD_LETTER_TOPIC", "metrics.dead_letter")
}

pipeline {
  # Below the task definition's stopTimeout (30 s), so that ECS never SIGKILLs a draining task.
  shutdown_timeout = "20s"
}
