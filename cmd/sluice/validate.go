package main

import (
	"fmt"
	"io"
)

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stderr)
	path := fs.String("config", "", "config file to check")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
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
