// Package relabelcheck checks Sluice's relabeling (package relabel) against Prometheus' own
// model/relabel at a pinned version: the same rules on the same label sets must give the same
// labels and the same keep or drop verdict, and a rule Sluice accepts must be one Prometheus
// accepts (and the other way round). It also parses the Grafana dashboard's queries with
// Prometheus' PromQL parser (dashboard_test.go). It is a module of its own so that Prometheus never enters
// Sluice's go.mod.
package relabelcheck
