package relabel

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/messages"
)

// parseLabels reads "k=v,k2=v2" (no escaping: tests only) into labels.
func parseLabels(s string) []messages.Tag {
	var out []messages.Tag
	if s == "" {
		return nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, messages.Tag{Key: []byte(k), Value: []byte(v)})
	}
	return out
}

func formatLabels(ls []messages.Tag) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, string(l.Key)+"="+string(l.Value))
	}
	return strings.Join(parts, ",")
}

// spec builds a rule from "key: value" settings over the defaults.
func spec(t *testing.T, settings map[string]any) Spec {
	t.Helper()
	s := DefaultSpec()
	for k, v := range settings {
		switch k {
		case "action":
			s.Action = v.(string)
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
			t.Fatalf("unknown setting %q", k)
		}
	}
	return s
}

func TestProcess(t *testing.T) {
	var b Builder
	// f applies rules to the labels in, expecting out ("" with keep false: dropped).
	f := func(in string, rules []map[string]any, keep bool, out string) {
		t.Helper()
		var specs []Spec
		for _, r := range rules {
			specs = append(specs, spec(t, r))
		}
		rs, err := NewRules(specs)
		if err != nil {
			t.Fatalf("%v: %v", rules, err)
		}
		b.ResetLabels(parseLabels(in))
		if got := b.Process(rs); got != keep {
			t.Fatalf("%s %v: keep = %v, want %v", in, rules, got, keep)
		}
		if !keep {
			return
		}
		if got := formatLabels(b.Labels()); got != out {
			t.Fatalf("%s %v:\n got %s\nwant %s", in, rules, got, out)
		}
	}
	// replace: the default regex with a replacement copies; $n groups; no match changes nothing.
	f("__name__=up,host=web-1", []map[string]any{{"source_labels": []string{"host"}, "target_label": "instance"}}, true,
		"__name__=up,host=web-1,instance=web-1")
	f("__name__=up,host=web-1,dc=eu", []map[string]any{{"source_labels": []string{"__name__", "host"}, "regex": "(.+);web-(.*)", "target_label": "instance", "replacement": "$2"}}, true,
		"__name__=up,dc=eu,host=web-1,instance=1")
	f("__name__=up,host=db-1", []map[string]any{{"source_labels": []string{"__name__", "host"}, "regex": "(.+);web-(.*)", "target_label": "instance", "replacement": "$2"}}, true,
		"__name__=up,host=db-1")
	// A missing source label is the empty string; the fast path sets a constant.
	f("__name__=up", []map[string]any{{"source_labels": []string{"nope"}, "target_label": "env", "replacement": "prod"}}, true,
		"__name__=up,env=prod")
	// A replacement that expands to nothing removes the label.
	f("__name__=up,env=dev", []map[string]any{{"source_labels": []string{"nope"}, "regex": "(.*)", "target_label": "env", "replacement": "$1"}}, true,
		"__name__=up")
	// ${1} with a target made of groups; a target that expands to an empty name is skipped.
	f("__name__=up,k=zone,v=eu", []map[string]any{{"source_labels": []string{"k", "v"}, "regex": "(.*);(.*)", "target_label": "${1}", "replacement": "${2}x"}}, true,
		"__name__=up,k=zone,v=eu,zone=eux")
	f("__name__=up,v=eu", []map[string]any{{"source_labels": []string{"k", "v"}, "regex": "(.*);(.*)", "target_label": "${1}", "replacement": "$2"}}, true,
		"__name__=up,v=eu")
	// keep, drop, keepequal, dropequal.
	f("__name__=http_requests_total", []map[string]any{{"action": "keep", "source_labels": []string{"__name__"}, "regex": "http_.*"}}, true, "__name__=http_requests_total")
	f("__name__=cpu", []map[string]any{{"action": "keep", "source_labels": []string{"__name__"}, "regex": "http_.*"}}, false, "")
	f("__name__=cpu", []map[string]any{{"action": "drop", "source_labels": []string{"__name__"}, "regex": "cpu|mem"}}, false, "")
	f("__name__=cpu,a=1,b=1", []map[string]any{{"action": "keepequal", "source_labels": []string{"a"}, "target_label": "b"}}, true, "__name__=cpu,a=1,b=1")
	f("__name__=cpu,a=1,b=2", []map[string]any{{"action": "keepequal", "source_labels": []string{"a"}, "target_label": "b"}}, false, "")
	f("__name__=cpu,a=1,b=1", []map[string]any{{"action": "dropequal", "source_labels": []string{"a"}, "target_label": "b"}}, false, "")
	// dropequal of two missing labels: "" == "".
	f("__name__=cpu", []map[string]any{{"action": "dropequal", "source_labels": []string{"a"}, "target_label": "b"}}, false, "")
	// hashmod: md5's last 8 bytes, big-endian, modulo (Prometheus' own test values).
	f("__name__=up,c=baz", []map[string]any{{"action": "hashmod", "source_labels": []string{"c"}, "target_label": "d", "modulus": 1000}}, true,
		"__name__=up,c=baz,d=976")
	// labelmap with groups; labeldrop; labelkeep (__name__ must be kept explicitly, as in Prometheus).
	f("__name__=up,__meta_x=1,__meta_y=2,z=3", []map[string]any{{"action": "labelmap", "regex": "__meta_(.+)", "replacement": "m_${1}"}}, true,
		"__meta_x=1,__meta_y=2,__name__=up,m_x=1,m_y=2,z=3")
	f("__name__=up,pod=p1,instance=i", []map[string]any{{"action": "labeldrop", "regex": "pod|instance"}}, true, "__name__=up")
	f("__name__=up,pod=p1,instance=i", []map[string]any{{"action": "labelkeep", "regex": "__name__|pod"}}, true, "__name__=up,pod=p1")
	// lowercase and uppercase.
	f("__name__=up,Env=PROD", []map[string]any{{"action": "lowercase", "source_labels": []string{"Env"}, "target_label": "env"}}, true,
		"Env=PROD,__name__=up,env=prod")
	f("__name__=up,env=prod", []map[string]any{{"action": "uppercase", "source_labels": []string{"env"}, "target_label": "env"}}, true,
		"__name__=up,env=PROD")
	// Renaming the metric; an empty __name__ removes the name.
	f("__name__=cpu.idle,host=a", []map[string]any{{"source_labels": []string{"__name__"}, "regex": `cpu\.(.*)`, "target_label": "__name__", "replacement": "node_cpu_${1}"}}, true,
		"__name__=node_cpu_idle,host=a")
	// Rules see what earlier rules did: rename host to instance (copy, then drop host).
	f("__name__=up,host=web", []map[string]any{
		{"source_labels": []string{"host"}, "target_label": "instance"},
		{"action": "labeldrop", "regex": "host"},
	}, true, "__name__=up,instance=web")
	// labelmap sees the labels as they were when it started, earlier rules' labels last.
	f("__name__=up,a=1", []map[string]any{
		{"target_label": "b", "replacement": "2"},
		{"action": "labelmap", "regex": "(.)", "replacement": "c"},
	}, true, "__name__=up,a=1,b=2,c=2")
}

func TestCompileErrors(t *testing.T) {
	f := func(settings map[string]any, field string) {
		t.Helper()
		_, err := Compile(spec(t, settings))
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("%v: error %v, want one on %s", settings, err, field)
		}
		if e.Field != field {
			t.Fatalf("%v: error on %s (%v), want on %s", settings, e.Field, e, field)
		}
	}
	f(map[string]any{"action": "frobnicate"}, "action")
	f(map[string]any{"regex": "(", "target_label": "x"}, "regex")
	f(map[string]any{"action": "hashmod", "target_label": "x"}, "modulus")
	f(map[string]any{"action": "replace"}, "target_label")
	f(map[string]any{"action": "lowercase", "target_label": "x", "replacement": "y"}, "replacement")
	f(map[string]any{"action": "keepequal", "source_labels": []string{"a"}, "target_label": "b", "regex": "(.*)"}, "action")
	f(map[string]any{"action": "labeldrop", "source_labels": []string{"a"}}, "action")
	f(map[string]any{"action": "labelmap", "replacement": ""}, "replacement")
	f(map[string]any{"source_labels": []string{""}, "target_label": "x"}, "source_labels")
	f(map[string]any{"target_label": "\xff"}, "target_label")
	if _, err := Compile(spec(t, map[string]any{"action": "KEEP", "source_labels": []string{"a"}})); err != nil {
		t.Fatalf("actions are read in any case, as Prometheus reads them: %v", err)
	}
}

// Relabeling a series that the cache has not seen allocates nothing of the builder's once it has
// grown: only Go's regexp, whose FindSubmatchIndex returns a new slice (one per replace rule
// that matches by regex).
func TestProcessAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops at random)")
	}
	rs, err := NewRules([]Spec{
		spec(t, map[string]any{"source_labels": []string{"host"}, "regex": "web-(.*)", "target_label": "instance"}),
		spec(t, map[string]any{"action": "labeldrop", "regex": "pod"}),
		spec(t, map[string]any{"action": "hashmod", "source_labels": []string{"instance"}, "target_label": "shard", "modulus": 8}),
	})
	if err != nil {
		t.Fatal(err)
	}
	tags := parseLabels("host=web-1,pod=p,dc=eu")
	metric := []byte("cpu")
	var b Builder
	allocs := testing.AllocsPerRun(100, func() {
		b.Reset(metric, tags)
		b.Process(rs)
		b.Labels()
	})
	if allocs > 1 {
		t.Fatalf("%v allocations per series, want at most 1 (the replace rule's match indexes)", allocs)
	}
}
