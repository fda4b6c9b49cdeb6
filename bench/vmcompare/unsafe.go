package vmcompare

import "unsafe"

// bytesToString views b as a string without copying, as VictoriaMetrics' callers do.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
