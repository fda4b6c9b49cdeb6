package config

// Validation of the input blocks: formats, topics, groups and each format's own settings.

import (
	"errors"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/parse/formats"
	"github.com/sluicehq/sluice/parse/otlp"
	"github.com/sluicehq/sluice/relabel"
)

// validateInputs checks the input blocks: one per format, each topic read by one format.
func (c *Config) validateInputs(v *validator) {
	if len(c.Inputs) == 0 {
		v.errorf("", "", "No input", `Add an input block, such as: input "opentsdb" { topics = ["metrics"] }.`)
	}
	seenFormat := map[string]bool{}
	topicFormat := map[string]string{}
	for _, in := range c.Inputs {
		key := "input." + in.Format
		in.deriveDefaults()
		if !contains(formats.Names, in.Format) {
			v.errorf(key, "", "Unsupported input format", "%q is not a format this build decodes%s: use one of %s.", in.Format, didYouMean(in.Format, formats.Names), strings.Join(formats.Names, ", "))
			continue
		}
		if seenFormat[in.Format] {
			v.errorf(key, "", "Duplicate input", "There is already an input %q; list all its topics in one block.", in.Format)
		}
		seenFormat[in.Format] = true
		if len(in.Topics) == 0 {
			v.errorf(key, "topics", "No topics", "An input needs at least one topic.")
		}
		for _, t := range in.Topics {
			if other, ok := topicFormat[t]; ok {
				v.errorf(key, "topics", "Topic in two inputs", "Topic %q is already read as %s; a topic carries one format.", t, other)
			}
			topicFormat[t] = in.Format
		}
		if in.Group == "" {
			v.errorf(key, "group", "Empty group", "Set a consumer group name.")
		}
		if in.InitialOffset != "oldest" && in.InitialOffset != "newest" {
			v.errorf(key, "initial_offset", "Unknown initial_offset", "%q: use oldest (a new group reads each partition's whole retention) or newest (only what is produced from its first start).", in.InitialOffset)
		}
		if in.IsolationLevel != IsolationReadCommitted && in.IsolationLevel != IsolationReadUncommitted {
			v.errorf(key, "isolation_level", "Unknown isolation_level", "%q: use read_committed (only committed transactions' records) or read_uncommitted (aborted ones too).", in.IsolationLevel)
		}
		for k, val := range in.DefaultTags {
			if k == "" || val == "" {
				v.errorf(key, "default_tags", "Empty default tag", "Default tags need a non-empty key and value.")
			}
		}
		if in.Format != "influx" {
			for _, attr := range []string{"precision", "field_separator", "value_field_bare"} {
				if _, ok := v.pos[key+"."+attr]; ok {
					v.errorf(key, attr, "Setting for another format", "%s applies to influx inputs only.", attr)
				}
			}
		}
		if in.Format != "otlp" {
			for _, attr := range []string{"encoding", "translation", "promote_resource_attributes"} {
				if _, ok := v.pos[key+"."+attr]; ok {
					v.errorf(key, attr, "Setting for another format", "%s applies to otlp inputs only.", attr)
				}
			}
		} else {
			if !contains(otlp.Encodings, in.Encoding) {
				v.errorf(key, "encoding", "Unknown OTLP encoding", "%q: use one of %s (what the Collector's kafkaexporter writes: otlp_proto by default).", in.Encoding, strings.Join(otlp.Encodings, ", "))
			}
			if !contains(otlp.Translations, in.Translation) {
				v.errorf(key, "translation", "Unknown name translation", "%q: use one of %s.", in.Translation, strings.Join(otlp.Translations, ", "))
			}
		}
		attr := "precision"
		if in.Format == "otlp" {
			attr = "translation"
		}
		if _, err := formats.New(in.Format, in.FormatOptions()); err != nil && (in.Format != "otlp" || contains(otlp.Translations, in.Translation)) {
			v.errorf(key, attr, "Invalid input setting", "%v.", err)
		}
	}
}

// validateRelabel checks every relabel block of the inputs and outputs (their defaults derived
// first), each error at the setting Prometheus would name.
func (c *Config) validateRelabel(v *validator) {
	for _, in := range c.Inputs {
		validateRules(v, "input."+in.Format, in.Relabel)
	}
	for _, o := range c.Outputs {
		validateRules(v, "output."+o.Type+"."+o.Name, o.Relabel)
	}
}

func validateRules(v *validator, block string, rules []*Relabel) {
	for i, r := range rules {
		key := block + ".relabel[" + strconv.Itoa(i) + "]"
		r.deriveDefaults(func(attr string) bool { _, ok := v.pos[key+"."+attr]; return ok })
		if _, err := relabel.Compile(r.Spec()); err != nil {
			var re *relabel.Error
			attr := ""
			if errors.As(err, &re) {
				attr = re.Field
			}
			v.errorf(key, attr, "Invalid relabel rule", "%v.", err)
		}
	}
}
