package relabelcheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	promrelabel "github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v2"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/relabel"
)

// promRules reads specs the way Prometheus reads a relabel_configs list from its config file
// (YAML over DefaultRelabelConfig, then Validate with the UTF-8 name scheme, Prometheus 3's
// default): only the settings a spec marks as written are written.
func promRules(specs []relabel.Spec) ([]*promrelabel.Config, error) {
	var out []*promrelabel.Config
	for i, s := range specs {
		m := yaml.MapSlice{{Key: "action", Value: s.Action}}
		if s.SourceSet || len(s.SourceLabels) > 0 {
			m = append(m, yaml.MapItem{Key: "source_labels", Value: s.SourceLabels})
		}
		if s.Separator != relabel.DefaultSeparator {
			m = append(m, yaml.MapItem{Key: "separator", Value: s.Separator})
		}
		if s.TargetLabel != "" {
			m = append(m, yaml.MapItem{Key: "target_label", Value: s.TargetLabel})
		}
		if s.Replacement != relabel.DefaultReplacement {
			m = append(m, yaml.MapItem{Key: "replacement", Value: s.Replacement})
		}
		if s.Modulus != 0 {
			m = append(m, yaml.MapItem{Key: "modulus", Value: s.Modulus})
		}
		src, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		var c promrelabel.Config
		if err := yaml.UnmarshalStrict(src, &c); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
		// The regex is set as Prometheus' Regexp.UnmarshalYAML sets it, not through YAML: a
		// quoted "~" or "null" there reaches the embedded regexp's UnmarshalText and overwrites
		// Prometheus' shared default regex (a quirk of its YAML reading, not of relabeling).
		if s.RegexSet || s.Regex != relabel.DefaultRegex {
			re, err := promrelabel.NewRegexp(s.Regex)
			if err != nil {
				return nil, fmt.Errorf("rule %d: %w", i+1, err)
			}
			c.Regex = re
		}
		if err := c.Validate(model.UTF8Validation); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
		out = append(out, &c)
	}
	return out, nil
}

// labelPairs is a label set as name, value, name, value...
type labelPairs []string

func (p labelPairs) prom() labels.Labels { return labels.FromStrings(p...) }

func (p labelPairs) tags() []messages.Tag {
	var out []messages.Tag
	for i := 0; i+1 < len(p); i += 2 {
		out = append(out, messages.Tag{Key: []byte(p[i]), Value: []byte(p[i+1])})
	}
	return out
}

func formatProm(ls labels.Labels) string {
	var b strings.Builder
	ls.Range(func(l labels.Label) { fmt.Fprintf(&b, "%q=%q ", l.Name, l.Value) })
	return b.String()
}

func formatSluice(ls []messages.Tag) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%q=%q ", l.Key, l.Value)
	}
	return b.String()
}

// compare runs specs over every label set with both implementations and reports the first
// difference: in whether the rules are accepted, in the keep verdict, or in the labels.
func compare(specs []relabel.Spec, sets []labelPairs) error {
	prom, perr := promRules(specs)
	ours, oerr := relabel.NewRules(specs)
	if (perr == nil) != (oerr == nil) {
		return fmt.Errorf("rules %+v: Prometheus says %v, Sluice says %v", specs, perr, oerr)
	}
	if perr != nil {
		return nil
	}
	var b relabel.Builder
	for _, set := range sets {
		lb := labels.NewBuilder(set.prom())
		pkeep := promrelabel.ProcessBuilder(lb, prom...)
		b.ResetLabels(set.tags())
		okeep := b.Process(ours)
		if pkeep != okeep {
			return fmt.Errorf("rules %+v on %q: Prometheus keep=%v, Sluice keep=%v", specs, set, pkeep, okeep)
		}
		if !pkeep {
			continue
		}
		if p, o := formatProm(lb.Labels()), formatSluice(b.Labels()); p != o {
			return fmt.Errorf("rules %+v on %q:\nPrometheus %s\nSluice     %s", specs, set, p, o)
		}
	}
	return nil
}

func rule(action string, settings ...any) relabel.Spec {
	s := relabel.DefaultSpec()
	s.Action = action
	for i := 0; i+1 < len(settings); i += 2 {
		switch v := settings[i+1]; settings[i] {
		case "source_labels":
			s.SourceLabels, s.SourceSet = v.([]string), true
		case "separator":
			s.Separator = v.(string)
		case "regex":
			s.Regex, s.RegexSet = v.(string), true
		case "target_label":
			s.TargetLabel = v.(string)
		case "replacement":
			s.Replacement = v.(string)
		case "modulus":
			s.Modulus = uint64(v.(int))
		default:
			panic(settings[i])
		}
	}
	return s
}

var tableSets = []labelPairs{
	{"__name__", "http_requests_total", "host", "web-1", "pod", "p-1", "dc", "eu"},
	{"__name__", "cpu.usage_idle", "host", "db-2", "cpu", "cpu0"},
	{"__name__", "up", "Env", "PROD", "__meta_kubernetes_pod_name", "p", "__meta_x", "y"},
	{"__name__", "up"},
	{"a", "foo", "b", "foo", "c", "baz"}, // no name at all
	{"__name__", "Ünïcode", "label", "ÀÉ\u00df", "k", "a\nb"},
}

// Every action, with the edge cases Prometheus users meet: empty and missing source labels,
// labelmap with ${1} groups, hashmod values, a replacement that empties a label, __name__
// rewritten to a name no TSDB accepts, and settings Prometheus refuses for an action.
func TestSameAsPrometheus(t *testing.T) {
	cases := map[string][]relabel.Spec{
		"replace default":           {rule("replace", "source_labels", []string{"host"}, "target_label", "instance")},
		"replace groups":            {rule("replace", "source_labels", []string{"__name__", "host"}, "regex", "(.+);web-(.*)", "target_label", "instance", "replacement", "$2")},
		"replace named group":       {rule("replace", "source_labels", []string{"host"}, "regex", "(?P<role>[a-z]+)-(?P<n>\\d+)", "target_label", "role", "replacement", "${role}_$n")},
		"replace constant":          {rule("replace", "target_label", "env", "replacement", "prod")},
		"replace empties a label":   {rule("replace", "source_labels", []string{"missing"}, "regex", "(.*)", "target_label", "host")},
		"replace missing sources":   {rule("replace", "source_labels", []string{"x", "y"}, "target_label", "xy", "replacement", "[$1]")},
		"replace empty sources":     {rule("replace", "source_labels", []string{}, "target_label", "t", "replacement", "v")},
		"replace target from group": {rule("replace", "source_labels", []string{"host"}, "regex", "([a-z]+)-(.*)", "target_label", "${1}_n", "replacement", "$2")},
		"replace target empty":      {rule("replace", "source_labels", []string{"nope"}, "regex", "(.*)", "target_label", "$1", "replacement", "x")},
		"replace no match":          {rule("replace", "source_labels", []string{"host"}, "regex", "zzz", "target_label", "host", "replacement", "")},
		"replace separator":         {rule("replace", "source_labels", []string{"host", "dc"}, "separator", "", "target_label", "hd")},
		"replace $0 and $10":        {rule("replace", "source_labels", []string{"host"}, "regex", "(w)(e)(b)(.*)", "target_label", "z", "replacement", "$0|$10|${1}0|$$")},
		"rename metric":             {rule("replace", "source_labels", []string{"__name__"}, "regex", "cpu\\.(.*)", "target_label", "__name__", "replacement", "node_cpu_${1}")},
		"metric to invalid name":    {rule("replace", "target_label", "__name__", "replacement", "not a metric!")},
		"metric removed":            {rule("replace", "source_labels", []string{"nope"}, "regex", "(.*)", "target_label", "__name__")},
		"keep http":                 {rule("keep", "source_labels", []string{"__name__"}, "regex", "http_.*")},
		"drop cpu":                  {rule("drop", "source_labels", []string{"__name__"}, "regex", "cpu\\..*|up")},
		"keep empty source":         {rule("keep", "source_labels", []string{"nope"}, "regex", "")},
		"keepequal":                 {rule("keepequal", "source_labels", []string{"a"}, "target_label", "b")},
		"dropequal":                 {rule("dropequal", "source_labels", []string{"a"}, "target_label", "b")},
		"dropequal missing":         {rule("dropequal", "source_labels", []string{"x"}, "target_label", "y")},
		"keepequal explicit regex":  {rule("keepequal", "source_labels", []string{"a"}, "target_label", "b", "regex", "(.*)")},
		"hashmod":                   {rule("hashmod", "source_labels", []string{"host", "c"}, "target_label", "shard", "modulus", 1000)},
		"hashmod 1":                 {rule("hashmod", "source_labels", []string{"__name__"}, "target_label", "s", "modulus", 1)},
		"hashmod without modulus":   {rule("hashmod", "source_labels", []string{"host"}, "target_label", "s")},
		"labelmap groups":           {rule("labelmap", "regex", "__meta_(.+)", "replacement", "meta_${1}")},
		"labelmap all":              {rule("labelmap", "regex", "(.*)", "replacement", "x_$1")},
		"labelmap collide":          {rule("labelmap", "regex", "(host|dc|pod)", "replacement", "where")},
		"labelmap empty name":       {rule("labelmap", "regex", "(.*)", "replacement", "$2")},
		"labeldrop":                 {rule("labeldrop", "regex", "pod|__meta_.*")},
		"labeldrop name":            {rule("labeldrop", "regex", "__name__")},
		"labelkeep":                 {rule("labelkeep", "regex", "__name__|host")},
		"labeldrop with sources":    {rule("labeldrop", "regex", "pod", "source_labels", []string{"a"})},
		"lowercase":                 {rule("lowercase", "source_labels", []string{"Env", "label"}, "target_label", "env")},
		"uppercase":                 {rule("uppercase", "source_labels", []string{"host"}, "target_label", "host")},
		"uppercase replacement":     {rule("uppercase", "source_labels", []string{"host"}, "target_label", "host", "replacement", "x")},
		"unknown action":            {rule("rename", "target_label", "x")},
		"upper-case action":         {rule("KEEP", "source_labels", []string{"__name__"}, "regex", "up")},
		"bad regex":                 {rule("replace", "target_label", "x", "regex", "(")},
		"invalid target":            {rule("replace", "target_label", "\xff")},
		"invalid source":            {rule("replace", "source_labels", []string{""}, "target_label", "x")},
		"chain rename host": {
			rule("replace", "source_labels", []string{"host"}, "target_label", "instance"),
			rule("labeldrop", "regex", "host"),
		},
		"chain set then labelmap": {
			rule("replace", "target_label", "zz", "replacement", "1"),
			rule("replace", "target_label", "b", "replacement", "2"),
			rule("labeldrop", "regex", "pod"),
			rule("labelmap", "regex", "(.*)", "replacement", "c"),
		},
		"chain keep after rename": {
			rule("replace", "source_labels", []string{"__name__"}, "regex", "(.*)_total", "target_label", "__name__", "replacement", "${1}"),
			rule("keep", "source_labels", []string{"__name__"}, "regex", "http_requests"),
		},
	}
	for name, specs := range cases {
		t.Run(name, func(t *testing.T) {
			if err := compare(specs, tableSets); err != nil {
				t.Fatal(err)
			}
		})
	}
}
