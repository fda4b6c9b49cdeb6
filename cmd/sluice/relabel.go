package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/relabel"
)

// relabelCmd is the relabel debugger: it reads series (in `sluice decode`'s canonical form, or
// raw lines of an input format with -format) and prints, for each, its labels after every rule
// of an input's or output's relabel blocks and the final verdict.
func relabelCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("relabel", stderr)
	path := fs.String("config", "", "config file whose relabel blocks to apply (required)")
	inputName := fs.String("input", "", "apply this input's rules (its format, as in input \"influx\"); the default when the config has one input")
	outputName := fs.String("output", "", "apply this output's rules (its name) instead")
	format := fs.String("format", "", "read raw lines of this input format ("+strings.Join(formats.Names, ", ")+") instead of decode's canonical form")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "sluice relabel: -config is required")
		return exitError
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return exitError
	}
	specs, what, err := relabelTarget(cfg, *inputName, *outputName)
	if err != nil {
		fmt.Fprintf(stderr, "sluice relabel: %v\n", err)
		return exitError
	}
	rules, err := relabel.NewRules(specs)
	if err != nil {
		fmt.Fprintf(stderr, "sluice relabel: %v\n", err) // validation compiled them already
		return exitError
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "sluice relabel: reading input: %v\n", err)
		return exitError
	}
	series, bad := readSeries(cfg, *format, data, stderr)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	fmt.Fprintf(out, "# %s, relabel rules: %d\n", what, rules.Len())
	kept, dropped := 0, 0
	var b relabel.Builder
	for _, s := range series {
		out.WriteString(string(appendSeries(nil, s.Metric, s.Tags)))
		out.WriteByte('\n')
		verdict := true
		for i := 0; i < rules.Len() && verdict; i++ {
			// Each step from the start, so that showing it changes nothing the next rule sees.
			b.Reset(s.Metric, s.Tags)
			verdict = b.Process(rules.Head(i + 1))
			fmt.Fprintf(out, "  %2d %-9s ", i+1, rules.Rule(i).Spec().Action)
			if !verdict {
				out.WriteString("dropped\n")
				break
			}
			out.WriteString(string(appendLabels(nil, b.Labels())))
			out.WriteByte('\n')
		}
		if !verdict {
			dropped++
			out.WriteString("  => dropped\n")
			continue
		}
		kept++
		b.Reset(s.Metric, s.Tags)
		b.Process(rules)
		metric, tags := relabel.Split(b.Labels(), nil)
		fmt.Fprintf(out, "  => %s\n", appendSeries(nil, metric, tags))
	}
	out.Flush()
	fmt.Fprintf(stderr, "%d series: %d kept, %d dropped; %d lines unreadable\n", len(series), kept, dropped, bad)
	if bad > 0 {
		return exitError
	}
	return exitOK
}

// relabelTarget picks the rules -input or -output names (the only input's without either).
func relabelTarget(cfg *config.Config, input, output string) ([]relabel.Spec, string, error) {
	switch {
	case input != "" && output != "":
		return nil, "", errors.New("give -input or -output, not both")
	case output != "":
		o := cfg.Output(output)
		if o == nil {
			return nil, "", fmt.Errorf("the config has no output %q", output)
		}
		return config.RelabelSpecs(o.Relabel), "output " + strconv.Quote(output), nil
	case input == "" && len(cfg.Inputs) == 1:
		input = cfg.Inputs[0].Format
	case input == "":
		var names []string
		for _, in := range cfg.Inputs {
			names = append(names, in.Format)
		}
		return nil, "", fmt.Errorf("the config has %d inputs: name one with -input (%s) or an output with -output", len(cfg.Inputs), strings.Join(names, ", "))
	}
	for _, in := range cfg.Inputs {
		if in.Format == input {
			return config.RelabelSpecs(in.Relabel), "input " + strconv.Quote(input), nil
		}
	}
	return nil, "", fmt.Errorf("the config has no input %q", input)
}

// readSeries reads the distinct series of data, in order: canonical lines, or raw lines of
// format decoded with that input's settings. It reports unreadable lines on stderr and counts
// them.
func readSeries(cfg *config.Config, format string, data []byte, stderr io.Writer) ([]messages.Datapoint, int) {
	var out []messages.Datapoint
	seen := map[string]bool{}
	add := func(metric []byte, tags []messages.Tag) {
		key := string(appendSeries(nil, metric, tags))
		if !seen[key] {
			seen[key] = true
			out = append(out, messages.Datapoint{Metric: metric, Tags: tags})
		}
	}
	bad := 0
	if format != "" {
		opts := formats.Options{InfluxPrecision: "ns", InfluxSeparator: "_"}
		for _, in := range cfg.Inputs {
			if in.Format == format {
				opts = in.FormatOptions()
			}
		}
		dec, err := formats.New(format, opts)
		if err != nil {
			fmt.Fprintf(stderr, "sluice relabel: %v\n", err)
			return nil, 1
		}
		var rows messages.Rows
		dec.Decode(&rows, data, time.Now().UnixMilli())
		for _, dp := range rows.Points {
			add(dp.Metric, dp.Tags)
		}
		for _, b := range rows.Bad {
			fmt.Fprintf(stderr, "unreadable (%s): %s\n", b.Detail, messages.Excerpt(b.Line, 160))
		}
		return out, len(rows.Bad)
	}
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		metric, tags, err := parseCanonical(line)
		if err != nil {
			fmt.Fprintf(stderr, "line %d: %v: %s\n", n+1, err, messages.Excerpt(line, 160))
			bad++
			continue
		}
		add(metric, tags)
	}
	return out, bad
}

// parseCanonical reads the series of a line in `sluice decode`'s form, `metric{a="1",b="2"}`
// (what follows, the value and timestamp, is ignored).
func parseCanonical(line []byte) ([]byte, []messages.Tag, error) {
	end := bytes.IndexAny(line, "{ ")
	if end < 0 {
		end = len(line)
	}
	metric, rest := line[:end], line[end:]
	if len(metric) == 0 {
		return nil, nil, errors.New("no metric name")
	}
	var tags []messages.Tag
	if len(rest) == 0 || rest[0] != '{' {
		return metric, nil, nil
	}
	rest = rest[1:]
	for {
		if len(rest) > 0 && rest[0] == '}' {
			return metric, tags, nil
		}
		eq := bytes.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, nil, errors.New(`want key="value" pairs between braces`)
		}
		key := rest[:eq]
		quoted, err := strconv.QuotedPrefix(string(rest[eq+1:]))
		if err != nil {
			return nil, nil, fmt.Errorf("tag %s: the value must be a quoted string", key)
		}
		value, _ := strconv.Unquote(quoted)
		tags = append(tags, messages.Tag{Key: key, Value: []byte(value)})
		rest = rest[eq+1+len(quoted):]
		switch {
		case len(rest) > 0 && rest[0] == ',':
			rest = rest[1:]
		case len(rest) > 0 && rest[0] == '}':
		default:
			return nil, nil, errors.New("a tag must be followed by , or }")
		}
	}
}

// appendSeries appends `metric{a="1",b="2"}` (tags in the order given; no braces without tags).
func appendSeries(b, metric []byte, tags []messages.Tag) []byte {
	return appendCanonicalSeries(b, &messages.Datapoint{Metric: metric, Tags: tags})
}

// appendLabels appends a label set as `{__name__="m",a="1"}`.
func appendLabels(b []byte, labels []messages.Tag) []byte {
	b = append(b, '{')
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(b, l.Key...), '=')
		b = strconv.AppendQuote(b, string(l.Value))
	}
	return append(b, '}')
}
