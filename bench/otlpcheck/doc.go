// Package otlpcheck checks Sluice's OTLP decoder against requests marshalled by the OpenTelemetry
// Collector's own pdata (pmetricotlp), what its kafkaexporter writes to Kafka. It is a module of
// its own so that the Collector never enters Sluice's go.mod.
package otlpcheck
