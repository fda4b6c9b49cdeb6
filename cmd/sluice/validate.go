package main

import (
	"flag"
	"fmt"
	"io"
)

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file to check")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if *path == "" {
		fmt.Fprintln(stderr, "sluice validate: -config FILE is required")
		return exitError
	}
	if _, ok := loadConfig(*path, stderr); !ok {
		return exitError
	}
	fmt.Fprintf(stdout, "%s: valid\n", *path)
	return exitOK
}
