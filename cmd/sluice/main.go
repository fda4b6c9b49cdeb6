// Command sluice is the Sluice metrics ingestion daemon and its tools.
//
//	sluice run -config FILE        run the pipeline
//	sluice run -dev [-dev-rate N]  run it against an embedded Kafka-protocol broker
//	sluice validate -config FILE   check a config exactly as start-up does
//	sluice decode -format FORMAT   show what Sluice makes of an agent's output
//	sluice relabel -config FILE    show what an input's or output's relabel rules do to series
//	sluice health                  probe a running sluice's /healthz (the container health check)
//	sluice loadgen -topic T        produce synthetic metrics at a rate
//	sluice tail -topic T           print the datapoints of an output shard topic
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/IBM/sarama"

	"github.com/hashicorp/go-hclog"
	"github.com/mattn/go-isatty"

	"github.com/sluicehq/sluice/cmd/sluice/internal/earlysignal"
	"github.com/sluicehq/sluice/config"
)

// Exit statuses.
const (
	exitOK        = 0
	exitError     = 1 // bad config, bad flags, cannot start
	exitEscalated = 3 // an actor exhausted its restart budget: let the orchestrator replace us
)

const usage = `usage: sluice <command> [flags]

commands:
  run        run the pipeline (-config FILE, or -dev for an embedded broker)
  validate   check a config file exactly as start-up does (-config FILE)
  decode     print what Sluice makes of some input (-format FORMAT [-input FILE] [-config FILE])
  relabel    show each relabel rule's effect on series read from stdin (-config FILE [-input NAME | -output NAME] [-format FORMAT])
  bench      run the pipeline against an embedded broker on pre-produced records; print one JSON object
  health     probe a running sluice's /healthz; exit 0 healthy, 1 not (-address host:port)
  loadgen    produce synthetic metrics in any input format at a rate (-config|-brokers -topic -format -rate -series -skew -duration)
  tail       print an output shard topic's datapoints with their shard (-config|-brokers [-topic T] [-partition N] [-n N])
  control    read and write the control topic: get, set -file DOC, history, diff (-config FILE)
  redrive    re-produce dead-lettered records to the topics they came from (-config|-brokers [-from TOPIC])
  dlq        dead-letter topic statistics: dlq stats (-config|-brokers [-topic TOPIC])

Every command that talks to Kafka connects with -config FILE's kafka block (brokers, version,
TLS, SASL); -brokers host:port,... is a shorthand for an unsecured cluster.

Run "sluice <command> -h" for a command's flags.
`

func main() {
	saramaLog()
	if os.Getenv(benchBrokerEnv) != "" {
		os.Exit(benchBrokerMain())
	}
	if len(os.Args) < 2 || os.Args[1] != "run" {
		earlysignal.Release() // only run handles SIGTERM from the start; the others stop on it
	}
	os.Exit(mainErr(os.Args[1:], os.Stdout, os.Stderr))
}

func mainErr(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "validate":
		return validateCmd(args[1:], stdout, stderr)
	case "decode":
		return decodeCmd(args[1:], os.Stdin, stdout, stderr)
	case "relabel":
		return relabelCmd(args[1:], os.Stdin, stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "health":
		return healthCmd(args[1:], stdout, stderr)
	case "loadgen":
		return loadgenCmd(args[1:], stdout, stderr)
	case "tail":
		return tailCmd(args[1:], stdout, stderr)
	case "control":
		return controlCmd(args[1:], stdout, stderr)
	case "redrive":
		return redriveCmd(args[1:], stdout, stderr)
	case "dlq":
		return dlqCmd(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", args[0], usage)
		return exitError
	}
}

// loadConfig loads path and prints every diagnostic on failure.
func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.LoadFile(path)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			ce.Write(stderr)
			fmt.Fprintf(stderr, "%s: %d error(s)\n", path, len(ce.Diags.Errs()))
		} else {
			fmt.Fprintf(stderr, "sluice: %v\n", err)
		}
		return nil, false
	}
	if w := cfg.Warnings(); w != nil {
		w.Write(stderr)
	}
	return cfg, true
}

// newLogger logs JSON when stdout is not a terminal (containers) or when the config asks for it.
func newLogger(cfg *config.Config, out io.Writer) hclog.Logger {
	json := cfg.Log.Format == "json"
	if cfg.Log.Format == "auto" {
		f, ok := out.(*os.File)
		json = !ok || !isatty.IsTerminal(f.Fd())
	}
	return hclog.New(&hclog.LoggerOptions{
		Name: "sluice", Level: hclog.LevelFromString(cfg.Log.Level), Output: out, JSONFormat: json,
	})
}

// saramaLog sends the Kafka client's own log (joins, syncs, heartbeats, retries) to the file
// SLUICE_SARAMA_LOG names, for debugging a consumer group; off unless set.
func saramaLog() {
	path := os.Getenv("SLUICE_SARAMA_LOG")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice: SLUICE_SARAMA_LOG: %v\n", err)
		return
	}
	sarama.Logger = log.New(f, "", log.LstdFlags|log.Lmicroseconds)
}
