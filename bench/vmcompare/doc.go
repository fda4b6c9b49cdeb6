// Package vmcompare times Sluice's decoders and VictoriaMetrics' parsers side by side on the
// same bytes (parse/benchlines), in one test binary, so the comparison survives a noisy host:
//
//	cd bench/vmcompare && go test -run '^$' -bench . -benchmem -count 10 | tee /tmp/cmp.txt
//	benchstat -col /impl -filter '.unit:sec/line' /tmp/cmp.txt
//
// It is its own module so VictoriaMetrics never enters Sluice's go.mod. The two sides do not do
// identical work: VictoriaMetrics' influx parser keeps a row's fields in one row, while Sluice
// builds one datapoint per field with a joined `<measurement>_<field>` name; Sluice converts
// every timestamp to milliseconds and checks value syntax strictly. TestSameDatapoints proves
// both sides read the same number of datapoints from each input. TestStreamAggrWindow checks
// package aggregate's window arithmetic against VictoriaMetrics' lib/streamaggr (vmagent's stream
// aggregation) on the same random samples.
package vmcompare
