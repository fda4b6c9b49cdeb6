// Command sluice is the Sluice metrics ingestion daemon and its tools. Its subcommands are
// declared once, in the command table (commands.go); `sluice help` lists them and `sluice help
// COMMAND` shows one's flags.
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
		fmt.Fprint(stderr, usage())
		return exitError
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", args[0], usage())
		return exitError
	}
	return c.run(args[1:], stdin, stdout, stderr)
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
// It is an InterceptLogger so that the status page can keep the recent events (startHTTP
// registers its sink).
func newLogger(cfg *config.Config, out io.Writer) hclog.Logger {
	json := cfg.Log.Format == "json"
	if cfg.Log.Format == "auto" {
		f, ok := out.(*os.File)
		json = !ok || !isatty.IsTerminal(f.Fd())
	}
	return hclog.NewInterceptLogger(&hclog.LoggerOptions{
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
