package main

// sluice bench's measurements: process and broker CPU, memory and GC counters sampled before
// and after a run, and the result's figures computed from their difference.

import (
	"math"
	"runtime"
	"runtime/metrics"
	"syscall"
	"time"
)

// benchSample is the process's accounting at one moment.
type benchSample struct {
	at             time.Time
	cpu, brokerCPU time.Duration
	mem            runtime.MemStats
	gcCPU          float64 // the runtime's estimate of CPU seconds spent in the GC
	pauseHist      *metrics.Float64Histogram
	maxRSS         int64
}

func takeSample(b *benchBroker) benchSample {
	var s benchSample
	s.at = time.Now()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	s.maxRSS = ru.Maxrss * 1024 // KiB on Linux
	s.brokerCPU = b.cpu()
	runtime.ReadMemStats(&s.mem)
	ms := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(ms)
	s.gcCPU = ms[0].Value.Float64()
	s.pauseHist = ms[1].Value.Float64Histogram()
	return s
}

// fill sets the result's figures from the difference between before and s.
func (s benchSample) fill(r *benchResult, before benchSample) {
	r.WallS = s.at.Sub(before.at).Seconds()
	r.CPUS = (s.cpu - before.cpu).Seconds()
	r.BrokerCPUS = (s.brokerCPU - before.brokerCPU).Seconds()
	dp := float64(r.Datapoints)
	r.DpPerS = dp / r.WallS
	if r.CPUS > 0 {
		r.DpPerCPUS = dp / r.CPUS
	}
	r.AllocBytesPerDp = float64(s.mem.TotalAlloc-before.mem.TotalAlloc) / dp
	r.AllocsPerDp = float64(s.mem.Mallocs-before.mem.Mallocs) / dp
	r.GCCycles = int64(s.mem.NumGC - before.mem.NumGC)
	r.GCPauseTotalS = float64(s.mem.PauseTotalNs-before.mem.PauseTotalNs) / 1e9
	// The largest pause bucket that gained counts during the run (its upper bound).
	for i := len(s.pauseHist.Counts) - 1; i >= 0; i-- {
		if s.pauseHist.Counts[i] > before.pauseHist.Counts[i] {
			r.GCPauseMaxS = s.pauseHist.Buckets[i+1]
			if math.IsInf(r.GCPauseMaxS, 1) {
				r.GCPauseMaxS = s.pauseHist.Buckets[i]
			}
			break
		}
	}
	// The GC's CPU as a share of the process's CPU (not of the CPU available, which would hide
	// it on an idle machine).
	r.GCCPUS = s.gcCPU - before.gcCPU
	if r.CPUS > 0 {
		r.GCCPUShare = r.GCCPUS / r.CPUS
	}
	r.PeakRSSBytes = s.maxRSS
}
