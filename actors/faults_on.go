//go:build faultinject

package actors

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// faults is read once from SLUICE_FAULTS, e.g. "worker=0.01,writer=0.01,poison=POISON":
//
//	worker=P  a worker panics on a batch with probability P (1 fails every batch)
//	writer=P  a writer panics on receiving a shard batch with probability P
//	poison=S  decoding any record that contains S panics, every time
var faults = func() (f struct {
	worker, writer float64
	poison         []byte
}) {
	for _, kv := range strings.Split(os.Getenv("SLUICE_FAULTS"), ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "worker":
			f.worker, _ = strconv.ParseFloat(v, 64)
		case "writer":
			f.writer, _ = strconv.ParseFloat(v, 64)
		case "poison":
			f.poison = []byte(v)
		}
	}
	return f
}()

func faultWorkerBatch() {
	if faults.worker > 0 && rand.Float64() < faults.worker {
		panic("injected fault: worker batch")
	}
}

func faultRecord(record []byte) {
	if len(faults.poison) > 0 && bytes.Contains(record, faults.poison) {
		panic("injected fault: poison record")
	}
}

func faultWriterBatch() {
	if faults.writer > 0 && rand.Float64() < faults.writer {
		panic("injected fault: writer batch")
	}
}

func faultsDescription() string { return os.Getenv("SLUICE_FAULTS") }

// recordFault is the encoder's hook before each record is decoded: the poison fault.
var recordFault = faultRecord
