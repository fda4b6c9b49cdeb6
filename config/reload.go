package config

import (
	"reflect"
	"strings"
)

// What a reload (SIGHUP, a control document) may change is declared once, here in the types, by
// a `reload` tag on every field of Config and of the blocks that mix both kinds:
//
//	reload:"live"     a changed value is applied while the pipeline runs (actors.Pipeline.Reload)
//	reload:"restart"  a changed value needs a restart: a reload reports it and keeps what runs
//	reload:"fields"   the block mixes both: each of its fields carries its own tag
//	reload:"-"        not a setting (where the config came from, what validation derives)
//
// A field without a tag is a bug that TestEveryFieldDeclaresReload catches, so a new block cannot
// be left out of reloading. Inside a live or restart block, only derived fields need a tag ("-"),
// so that a value built anew on every load (a TLS config) does not count as a change.
const (
	reloadLive    = "live"
	reloadRestart = "restart"
	reloadFields  = "fields"
	reloadSkip    = "-"
)

// NeedsRestart names the settings that differ between cur and next and need a restart, in the
// order of Config's fields: a whole block ("kafka", "input" for any input's topics, group or
// format settings, or a changed number of inputs) or, in a singleton block that mixes both kinds,
// the setting ("coordinator.enabled").
func NeedsRestart(cur, next *Config) []string {
	var out []string
	walkReload(reflect.ValueOf(cur).Elem(), reflect.ValueOf(next).Elem(), "", func(path string) {
		if len(out) == 0 || out[len(out)-1] != path {
			out = append(out, path)
		}
	})
	return out
}

// SameRestartSettings reports whether a and b (two values of one block type, or slices or
// pointers of them) differ in nothing that needs a restart: a reload applies the live settings of
// a mixed block (an input's default_tags, a route's priority) only then.
func SameRestartSettings(a, b any) bool {
	same := true
	walkReload(reflect.ValueOf(a), reflect.ValueOf(b), "", func(string) { same = false })
	return same
}

// walkReload calls restart(name) for every restart setting that differs between a and b, which
// are of a type whose fields carry reload tags (Config, or a mixed block, or slices or pointers of
// them). name is where the setting is: prefix for a list block, prefix.setting in a singleton.
func walkReload(a, b reflect.Value, prefix string, restart func(string)) {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				restart(prefix)
			}
			return
		}
		walkReload(a.Elem(), b.Elem(), prefix, restart)
	case reflect.Slice:
		if a.Len() != b.Len() {
			restart(prefix)
			return
		}
		for i := range a.Len() {
			// A list block's settings are named by the block: "input", not "input[2].topics".
			walkReload(a.Index(i), b.Index(i), prefix, func(string) { restart(prefix) })
		}
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := hclName(f)
			if prefix != "" {
				name = prefix + "." + name
			}
			switch f.Tag.Get("reload") {
			case reloadRestart:
				if !equalSettings(a.Field(i), b.Field(i)) {
					restart(name)
				}
			case reloadFields:
				walkReload(a.Field(i), b.Field(i), name, restart)
			}
		}
	}
}

// equalSettings is reflect.DeepEqual but for fields tagged reload:"-" at any depth.
func equalSettings(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalSettings(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equalSettings(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || f.Tag.Get("reload") == reloadSkip {
				continue
			}
			if !equalSettings(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// hclName is the field's name in the config file (its hcl tag's name), or its Go name.
func hclName(f reflect.StructField) string {
	if n, _, _ := strings.Cut(f.Tag.Get("hcl"), ","); n != "" {
		return n
	}
	return f.Name
}
