// Package textcheck checks Sluice's Prometheus text decoder (parse/prometheus) against
// Prometheus' own parser (model/textparse's PromParser, pinned v0.316.0) sample for sample —
// names, labels, values with their NaN bits, timestamps — on the exposition pages of the real
// victoria-metrics and prometheus binaries, on a corpus of edge cases, and in a differential fuzz
// target. It is a module of its own so that Prometheus never enters Sluice's go.mod.
package textcheck
