package main

// sluice control get | set -file F | history | diff [-file F]: read and write the control topic
// of the config file's control block (docs/control.md). set validates the document against the
// config file exactly as every task will, and publishes nothing that would be rejected.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/control"
	"github.com/sluicehq/sluice/kafkaio"
)

const controlUsage = `
subcommands (each takes -config FILE; "sluice control SUBCOMMAND -h" lists its flags):
  get                 print the newest valid control document (its version on stderr)
  set -file DOC       validate DOC against FILE and publish it as the next version
  history             list every version the topic holds, newest first, and whether it is valid
  diff [-file DOC]    show what DOC (default: the newest document) changes from the version
                      running now, or between -from and -to versions

FILE is the config the tasks run: its kafka and control blocks say where the topic is, and
documents are validated against it.
`

func controlCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(stdout, lookup("control").heading()+controlUsage)
			return exitOK
		}
		fmt.Fprint(stderr, lookup("control").heading()+controlUsage)
		return exitError
	}
	sub := args[0]
	fs := newFlags("control "+sub, stderr)
	path := fs.String("config", "", "the config file the tasks run (required)")
	file := fs.String("file", "", "a control document (set: required; diff: compare it)")
	from := fs.Int64("from", 0, "diff: the older version (default: the newest valid one, or the one before -to)")
	to := fs.Int64("to", 0, "diff: the newer version")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the brokers")
	if err := fs.Parse(args[1:]); err != nil {
		return parseExit(err)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "sluice control: -config is required")
		return exitError
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitError
	}
	if cfg.Control == nil {
		fmt.Fprintf(stderr, "sluice control: %s has no control block (control { topic = \"sluice.control\" })\n", *path)
		return exitError
	}
	var doc []byte
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			fmt.Fprintf(stderr, "sluice control: %v\n", err)
			return exitError
		}
		doc = b
	}
	sc := kafkaio.ConsumerConfig(cfg.Kafka, 0)
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	client, err := sarama.NewClient(cfg.Kafka.Brokers, sc)
	if err != nil {
		fmt.Fprintf(stderr, "sluice control: %v\n", err)
		return exitError
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	recs, _, _, err := control.ReadAll(ctx, client, cfg.Control.Topic)
	if err != nil && !(errors.Is(err, control.ErrNoTopic) && sub == "set") {
		fmt.Fprintf(stderr, "sluice control: topic %s: %v\n", cfg.Control.Topic, err)
		return exitError
	}
	newest := control.Newest(recs)
	valid := func(r control.Record) error {
		_, err := config.LoadControl(fmt.Sprintf("version %d", r.Version), r.Doc, cfg)
		return err
	}
	current := func() (control.Record, bool) {
		for _, r := range newest {
			if valid(r) == nil {
				return r, true
			}
		}
		return control.Record{}, false
	}
	switch sub {
	case "get":
		r, ok := current()
		if !ok {
			fmt.Fprintf(stderr, "sluice control: no valid document on %s: the tasks run their config file\n", cfg.Control.Topic)
			return exitError
		}
		fmt.Fprintf(stderr, "version %d, published %s\n", r.Version, r.Time.UTC().Format(time.RFC3339))
		stdout.Write(r.Doc)
		return exitOK
	case "set":
		if doc == nil {
			fmt.Fprintln(stderr, "sluice control set: -file is required")
			return exitError
		}
		if _, err := config.LoadControl(*file, doc, cfg); err != nil {
			var ce *config.Error
			if errors.As(err, &ce) {
				ce.Write(stderr)
				fmt.Fprintf(stderr, "%s: %d error(s); nothing was published\n", *file, len(ce.Diags.Errs()))
			} else {
				fmt.Fprintf(stderr, "sluice control set: %v; nothing was published\n", err)
			}
			return exitError
		}
		version := int64(1)
		if len(newest) > 0 {
			version = newest[0].Version + 1
		}
		part, off, err := control.Publish(client, cfg.Control.Topic, version, doc)
		if err != nil {
			fmt.Fprintf(stderr, "sluice control set: %v\n", err)
			return exitError
		}
		fmt.Fprintf(stdout, "published version %d to %s (partition %d, offset %d)\n", version, cfg.Control.Topic, part, off)
		return exitOK
	case "history":
		for _, r := range newest {
			state := "valid"
			if err := valid(r); err != nil {
				state = "invalid: " + firstErrorLine(err)
			}
			fmt.Fprintf(stdout, "version %d\t%s\t%d bytes\tpartition %d offset %d\t%s\n", r.Version, r.Time.UTC().Format(time.RFC3339),
				len(r.Doc), r.Partition, r.Offset, state)
		}
		if len(newest) == 0 {
			fmt.Fprintf(stderr, "%s holds no control document\n", cfg.Control.Topic)
		}
		return exitOK
	case "diff":
		byVersion := func(v int64) (control.Record, bool) {
			for _, r := range newest {
				if r.Version == v {
					return r, true
				}
			}
			return control.Record{}, false
		}
		var a, b control.Record
		var aName, bName string
		switch {
		case *to != 0:
			var okB bool
			if b, okB = byVersion(*to); !okB {
				fmt.Fprintf(stderr, "sluice control diff: no version %d\n", *to)
				return exitError
			}
			fromV := *from
			if fromV == 0 {
				fromV = *to - 1
			}
			a, _ = byVersion(fromV)
			aName, bName = "version "+strconv.FormatInt(fromV, 10), "version "+strconv.FormatInt(*to, 10)
		case doc != nil:
			a, _ = current()
			b = control.Record{Doc: doc}
			aName, bName = "version "+strconv.FormatInt(a.Version, 10)+" (running)", *file
		default:
			a, _ = current()
			if len(newest) > 0 {
				b = newest[0]
			}
			aName, bName = "version "+strconv.FormatInt(a.Version, 10)+" (running)", "version "+strconv.FormatInt(b.Version, 10)+" (newest)"
		}
		text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(a.Doc)), B: difflib.SplitLines(string(b.Doc)),
			FromFile: aName, ToFile: bName, Context: 3})
		io.WriteString(stdout, text)
		return exitOK
	default:
		fmt.Fprintf(stderr, "sluice control: unknown subcommand %q\n\n%s", sub, controlUsage)
		return exitError
	}
}

func firstErrorLine(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) && len(ce.Diags) > 0 {
		d := ce.Diags[0]
		if d.Subject != nil {
			return fmt.Sprintf("%d:%d: %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary)
		}
		return d.Summary
	}
	return err.Error()
}
