package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/sluicehq/sluice/budget"
)

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stderr)
	path := fs.String("config", "", "config file to check")
	partitions := fs.Int("partitions", 0, "input partitions one process may own, for the memory budget it prints (at most all of them)")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "sluice validate: -config FILE is required")
		return exitError
	}
	if *partitions < 0 {
		fmt.Fprintln(stderr, "sluice validate: -partitions must be 0 or more")
		return exitError
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitError
	}
	fmt.Fprintf(stdout, "%s: valid\n", *path)
	pl := cfg.Pipeline
	fmt.Fprintf(stdout, "actors: readers %d, workers %d, writers %d (workers and writers left out follow the %d CPUs Go may use here: GOMAXPROCS)\n",
		pl.Readers, pl.Workers, pl.Writers, runtime.GOMAXPROCS(0))
	// The budget sluice run computes at start (it counts the input topics' partitions then): the
	// container's memory should be above the limit.
	b := budget.New(cfg, *partitions)
	perPartition := budget.New(cfg, *partitions+1).WorkingSet() - b.WorkingSet()
	limit, source := b.Limit(cfg.Pipeline.MemoryLimit), "twice the working set"
	if cfg.Pipeline.MemoryLimit > 0 {
		source = "pipeline.memory_limit"
	}
	fmt.Fprintf(stdout, "memory budget with %d input partitions: working set %d MiB (", *partitions, mib(b.WorkingSet()))
	for i, p := range b.Parts() {
		if i > 0 {
			fmt.Fprint(stdout, ", ")
		}
		fmt.Fprintf(stdout, "%s %d", p.Name, mib(p.Bytes))
	}
	fmt.Fprintf(stdout, "), %d MiB more per partition; soft memory limit %d MiB (%s): give the container more than that\n",
		mib(perPartition), mib(limit), source)
	if *partitions == 0 {
		fmt.Fprintln(stdout, "(-partitions N: the input partitions one process may own, all of them at most, for the budget at full load)")
	}
	return exitOK
}

// mib rounds bytes up to MiB.
func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }
