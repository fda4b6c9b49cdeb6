//go:build !faultinject

package actors

// Fault injection is compiled in only with `-tags faultinject` (crash tests build the binary that
// way); in a normal build these hooks are empty and the compiler removes the calls.

func faultWorkerBatch()         {}
func faultRecord(_ []byte)      {}
func faultWriterBatch()         {}
func faultsDescription() string { return "" }
