package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// command is one subcommand, declared once: its name, the one-line summary that `sluice help`
// and the README's command list show (TestREADMECommandList keeps them equal), its synopsis, and
// what runs it. Its flags are its own, in a flag set from newFlags, whose -h prints the same
// heading and exits 0.
type command struct {
	name, summary, synopsis string
	run                     func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands are the subcommands, in the order help lists them.
var commands []command

func init() {
	// Set here, not in the declaration: help's run reads the table.
	commands = []command{
		{"run", "run the pipeline", "-config FILE | -dev [-config FILE] [-dev-rate N]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return runCmd(a, o, e) }},
		{"validate", "check a config file exactly as start-up does, and print its memory budget", "-config FILE [-partitions N]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return validateCmd(a, o, e) }},
		{"decode", "print what Sluice makes of some input", "-format FORMAT [-input FILE] [-config FILE]", decodeCmd},
		{"relabel", "show each relabel rule's effect on series read from stdin", "-config FILE [-input NAME | -output NAME] [-format FORMAT]", relabelCmd},
		{"bench", "run the pipeline against an embedded broker on pre-produced records; print one JSON object", "[-format FORMAT] [-records N] [flags]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return benchCmd(a, o, e) }},
		{"health", "probe a running sluice's /healthz; exit 0 healthy, 1 not", "[-address host:port] [-path /readyz]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return healthCmd(a, o, e) }},
		{"status", "show a running sluice's status: flow, partitions, workers, outputs, limits, memory, events", "[-address host:port] [-watch] [-json]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return statusCmd(a, o, e) }},
		{"loadgen", "produce synthetic metrics in any input format at a rate", "(-config FILE | -brokers B) -topic T [-format F] [-rate N] [flags]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return loadgenCmd(a, o, e) }},
		{"produce", "write stdin's lines to a topic, one record per line (or -lines N)", "(-config FILE | -brokers B) [-topic T] [-lines N]", produceCmd},
		{"tail", "print an output shard topic's datapoints with their shard", "(-config FILE | -brokers B) [-topic T] [-partition N] [-n N]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return tailCmd(a, o, e) }},
		{"control", "read and write the control topic", "get | set -file DOC | history | diff [-file DOC] ... -config FILE",
			func(a []string, _ io.Reader, o, e io.Writer) int { return controlCmd(a, o, e) }},
		{"redrive", "re-produce dead-lettered records to the topics they came from", "(-config FILE | -brokers B) [-from TOPIC] [-reason R] [-dry-run]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return redriveCmd(a, o, e) }},
		{"replay", "re-ingest a time range of an input's topics into the outputs, without touching the live groups", "-config FILE -from TIME [-to TIME] [-input NAME] [-output NAME] [-match GLOB] [-rate N]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return replayCmd(a, o, e) }},
		{"dlq", "dead-letter topic statistics by reason, source and age", "stats (-config FILE | -brokers B) [-topic TOPIC]",
			func(a []string, _ io.Reader, o, e io.Writer) int { return dlqCmd(a, o, e) }},
		{"version", "print the module version and VCS revision this binary was built from", "",
			func(a []string, _ io.Reader, o, e io.Writer) int { return versionCmd(a, o, e) }},
		{"help", "show the commands, or one command's flags", "[COMMAND]",
			func(a []string, in io.Reader, o, e io.Writer) int { return helpCmd(a, in, o, e) }},
	}
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// usage is the top-level help: every command with its summary.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: sluice <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s  %s\n", c.name, c.summary)
	}
	b.WriteString("\nEvery command that talks to Kafka connects with -config FILE's kafka block (brokers, version,\n" +
		"TLS, SASL); -brokers host:port,... is a shorthand for an unsecured cluster.\n\n" +
		"Run \"sluice help <command>\" or \"sluice <command> -h\" for a command's flags.\n")
	return b.String()
}

// heading is what a command's help starts with: its synopsis and summary.
func (c *command) heading() string {
	return fmt.Sprintf("usage: sluice %s %s\n\n%s.\n", c.name, c.synopsis, strings.ToUpper(c.summary[:1])+c.summary[1:])
}

// newFlags is the flag set of command name (a sub-subcommand is "control get"): errors and -h
// print to stderr, -h with the command's heading before its flags.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	top, _, _ := strings.Cut(name, " ")
	fs.Usage = func() {
		if c := lookup(top); c != nil {
			fmt.Fprint(fs.Output(), c.heading())
		}
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseExit is a command's exit status when parsing its flags failed: 0 when -h asked for help.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitError
}

func helpCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	c := lookup(args[0])
	if c == nil || c.name == "help" {
		fmt.Fprintf(stderr, "sluice help: no command %q\n\n%s", args[0], usage())
		return exitError
	}
	return c.run([]string{"-h"}, stdin, stdout, stdout)
}

// versionCmd prints the module version, the VCS revision and time, and the Go version this binary
// was built with (what sluice_build_info reports).
func versionCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", stderr)
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	v := readVersion()
	fmt.Fprintf(stdout, "sluice %s (revision %s%s, built %s) %s\n", v.version, v.revision, v.dirty, v.time, v.goVersion)
	return exitOK
}

// version is what the build info says of this binary.
type version struct{ version, revision, dirty, time, goVersion string }

func readVersion() version {
	v := version{version: "(devel)", revision: "unknown", time: "unknown", goVersion: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.version, v.goVersion = bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v.dirty = ", modified"
			}
		}
	}
	return v
}

// stdin is the process's standard input, for the commands that read it.
var stdin io.Reader = os.Stdin

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// markdownCommands is the README's command list, generated from the table.
func markdownCommands() string {
	var b strings.Builder
	b.WriteString("| command | what it does |\n|---|---|\n")
	for _, c := range commands {
		synopsis := ""
		if c.synopsis != "" {
			synopsis = " " + strings.ReplaceAll(c.synopsis, "|", `\|`)
		}
		fmt.Fprintf(&b, "| `sluice %s%s` | %s |\n", c.name, synopsis, c.summary)
	}
	return b.String()
}
