package config

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestEveryFieldDeclaresReload walks every field of Config, and of every block that mixes live
// and restart settings, and fails on one without a reload tag: a new block or setting must say
// whether a reload applies it or needs a restart.
func TestEveryFieldDeclaresReload(t *testing.T) {
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name := path + "." + f.Name
			switch tag := f.Tag.Get("reload"); tag {
			case reloadLive, reloadRestart, reloadSkip:
			case reloadFields:
				walk(f.Type, name)
			default:
				t.Errorf("%s has reload tag %q: say live, restart, fields or -", name, tag)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "Config")
}

// TestNeedsRestartSeesEverySetting changes every setting of a loaded config, one at a time, and
// checks that NeedsRestart names it exactly when its tag says restart: the walk, not a list kept
// by hand, decides what a reload reports.
func TestNeedsRestartSeesEverySetting(t *testing.T) {
	base, err := Load("t.hcl", []byte(`
kafka { brokers = ["b:9092"] }
input "influx" { topics = ["in"] }
output "kafka" "k" { topic = "out" }
output "remote_write" "rw" { urls = ["http://x/api/v1/write"] }
route {
  match   = ["a.**"]
  outputs = ["k"]
}
route { outputs = ["rw"] }
dead_letter { topic = "dlq" }
control { topic = "ctl" }
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := NeedsRestart(base, clone(base)); len(got) != 0 {
		t.Fatalf("an unchanged config needs a restart for %v", got)
	}
	// Each leaf setting (a field that is not a block), where it is and what its tag says.
	type leaf struct {
		path  []int
		name  string
		class string
	}
	var leaves []leaf
	var walk func(typ reflect.Type, path []int, name, class string)
	walk = func(typ reflect.Type, path []int, name, class string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Duration]() {
			leaves = append(leaves, leaf{slices.Clone(path), name, class})
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("reload")
			if !f.IsExported() || tag == reloadSkip || (f.Type.Kind() == reflect.Struct && f.Type.PkgPath() != typ.PkgPath()) {
				continue // derived, or a foreign struct (a TLS config) that validation builds
			}
			c := class
			if tag != "" && tag != reloadFields {
				c = tag
			}
			walk(f.Type, append(path, i), name+"."+f.Name, c)
		}
	}
	walk(reflect.TypeFor[Config](), nil, "Config", "")
	if len(leaves) < 80 {
		t.Fatalf("the walk found only %d settings", len(leaves))
	}
	for _, l := range leaves {
		next := clone(base)
		if !change(reflect.ValueOf(next).Elem(), l.path) {
			continue // a block the base config does not have (kafka.sasl, a budget)
		}
		got := NeedsRestart(base, next)
		switch {
		case l.class == reloadRestart && len(got) == 0:
			t.Errorf("%s (restart) changed, and NeedsRestart says nothing", l.name)
		case l.class == reloadLive && len(got) != 0:
			t.Errorf("%s (live) changed, and NeedsRestart says %v", l.name, got)
		case l.class == "":
			t.Errorf("%s has no reload class", l.name)
		}
	}
}

// change alters the setting at path in v (field indexes, through pointers and the first element
// of slices); false when a block on the way is absent.
func change(v reflect.Value, path []int) bool {
	for _, i := range path {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Slice {
			if v.Kind() == reflect.Pointer {
				if v.IsNil() {
					return false
				}
				v = v.Elem()
				continue
			}
			if v.Len() == 0 {
				return false
			}
			v = v.Index(0)
		}
		v = v.Field(i)
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		m.SetMapIndex(reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem())
		v.Set(m)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		} else {
			v.Set(reflect.Zero(v.Type()))
		}
	default:
		return false
	}
	return true
}

// clone deep-copies a config's exported settings (the TLS config is shared; it is not compared).
func clone(c *Config) *Config {
	return deepCopy(reflect.ValueOf(c)).Interface().(*Config)
}

func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Type().Elem().PkgPath() != reflect.TypeFor[Config]().PkgPath() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(deepCopy(v.Elem()))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMap(v.Type())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v) // unexported fields as they are
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return out
	}
	return v
}

// TestNeedsRestartNames: a list block's restart settings are named by the block, a singleton's
// mixed block's by the setting, and names come once each, in Config's order.
func TestNeedsRestartNames(t *testing.T) {
	cur, err := Load("t.hcl", []byte(`
input "influx" { topics = ["in"] }
output "kafka" "k" { topic = "out" }
coordinator { enabled = true }
`))
	if err != nil {
		t.Fatal(err)
	}
	next := clone(cur)
	next.Inputs[0].Topics = []string{"other"}
	next.Inputs[0].Group = "g2"
	next.Coordinator.Enabled = false
	next.Coordinator.HotFactor++ // live: not named
	next.Control = &Control{Topic: "ctl"}
	next.Kafka.ClientID = "other"
	want := []string{"kafka", "input", "coordinator.enabled", "control"}
	if got := NeedsRestart(cur, next); !slices.Equal(got, want) {
		t.Errorf("NeedsRestart = %v, want %v", got, want)
	}
	if !SameRestartSettings(cur.Routes, next.Routes) || SameRestartSettings(cur.Inputs, next.Inputs) {
		t.Error("SameRestartSettings does not tell the inputs' topics from unchanged routes")
	}
}
