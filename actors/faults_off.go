//go:build !faultinject

package actors

// Fault injection is compiled in only with `-tags faultinject` (crash tests build the binary that
// way); in a normal build these hooks are empty and the compiler removes the calls.

func faultWorkerBatch()         {}
func faultWriterBatch()         {}
func faultsDescription() string { return "" }

// recordFault is the encoder's hook before each record is decoded: none in a normal build.
var recordFault func(value []byte)
