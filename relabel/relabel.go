// Package relabel rewrites a series' labels with Prometheus' `relabel_config` semantics, exactly:
// the same actions, defaults, anchored RE2 regexes, `$1`/`${name}` expansion, md5 hashmod and
// the same order in which labelmap, labeldrop and labelkeep see the labels (Prometheus'
// labels.Builder: the labels as they were when the rule started, base labels by name first,
// then those the earlier rules set, in the order they were set). A label set to an empty value
// is removed. The metric name is the label `__name__`.
//
// Rules are compiled once (Compile) and applied to one series at a time through a Builder,
// whose storage is reused from series to series: Sluice relabels a series once, when it enters
// a worker's series cache, never per datapoint. Label names are checked as Prometheus 3 checks
// them by default (its UTF-8 scheme: any non-empty valid UTF-8).
package relabel

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/messages"
)

// NameLabel is the label that holds the metric name.
const NameLabel = "__name__"

// Action is what a rule does.
type Action uint8

// The actions, named as Prometheus names them.
const (
	Replace Action = iota
	Keep
	Drop
	KeepEqual
	DropEqual
	HashMod
	LabelMap
	LabelDrop
	LabelKeep
	Lowercase
	Uppercase
	numActions
)

var actionNames = [numActions]string{"replace", "keep", "drop", "keepequal", "dropequal", "hashmod",
	"labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase"}

// ActionNames lists the actions' names.
func ActionNames() []string { return actionNames[:] }

func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return "unknown"
}

// ParseAction reads an action's name, in any case (as Prometheus does).
func ParseAction(s string) (Action, bool) {
	i := slices.Index(actionNames[:], strings.ToLower(s))
	return Action(i), i >= 0
}

// Defaults of a rule's settings, Prometheus' DefaultRelabelConfig.
const (
	DefaultSeparator   = ";"
	DefaultRegex       = "(.*)"
	DefaultReplacement = "$1"
)

// Spec is one rule as written: Prometheus' relabel_config fields. The *Set fields say whether a
// setting was written at all, which Prometheus' own validation tells apart for some actions (an
// explicit regex = "(.*)" on keepequal is an error there, as it is here).
type Spec struct {
	Action       string
	SourceLabels []string
	SourceSet    bool
	Separator    string
	Regex        string
	RegexSet     bool
	TargetLabel  string
	Replacement  string
	Modulus      uint64
}

// DefaultSpec is a rule with every setting at its default.
func DefaultSpec() Spec {
	return Spec{Action: "replace", Separator: DefaultSeparator, Regex: DefaultRegex, Replacement: DefaultReplacement}
}

// Error is a rule that does not compile, naming the setting at fault (the attribute a config
// error points at).
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Msg }

// Rule is one compiled rule. It is immutable and safe to share.
type Rule struct {
	action       Action
	source       [][]byte
	sep          []byte
	re           *regexp.Regexp
	defaultRegex bool
	target       []byte
	targetVar    bool
	repl         []byte
	replVar      bool
	modulus      uint64
	spec         Spec
}

// Spec returns what the rule was compiled from.
func (r *Rule) Spec() Spec { return r.spec }

// Compile checks a rule as Prometheus' Config.Validate does (with the UTF-8 name scheme,
// Prometheus 3's default) and compiles its regex, anchored at both ends.
func Compile(s Spec) (*Rule, error) {
	act, ok := ParseAction(s.Action)
	if !ok {
		return nil, &Error{"action", fmt.Sprintf("unknown relabel action %q: use one of %s", s.Action, strings.Join(actionNames[:], ", "))}
	}
	re, err := regexp.Compile("^(?s:" + s.Regex + ")$")
	if err != nil {
		return nil, &Error{"regex", fmt.Sprintf("invalid regex %q: %v", s.Regex, err)}
	}
	r := &Rule{action: act, sep: []byte(s.Separator), re: re, target: []byte(s.TargetLabel), repl: []byte(s.Replacement),
		modulus: s.Modulus, spec: s, defaultRegex: !s.RegexSet && s.Regex == DefaultRegex,
		targetVar: strings.Contains(s.TargetLabel, "$"), replVar: strings.Contains(s.Replacement, "$")}
	for _, l := range s.SourceLabels {
		if !validName([]byte(l)) { // Prometheus' LabelName check when it reads the config
			return nil, &Error{"source_labels", fmt.Sprintf("%q is not a valid label name", l)}
		}
		r.source = append(r.source, []byte(l))
	}
	if act == HashMod && s.Modulus == 0 {
		return nil, &Error{"modulus", "relabel configuration for hashmod requires non-zero modulus"}
	}
	switch act {
	case Replace, HashMod, Lowercase, Uppercase, KeepEqual, DropEqual:
		if s.TargetLabel == "" {
			return nil, &Error{"target_label", fmt.Sprintf("relabel configuration for %s action requires 'target_label' value", act)}
		}
	}
	// With the UTF-8 scheme a label name is any non-empty valid UTF-8, $variables included.
	if !validName(r.target) && (act == Replace || act == Lowercase || act == Uppercase || act == KeepEqual || act == DropEqual || act == HashMod) {
		return nil, &Error{"target_label", fmt.Sprintf("%q is invalid 'target_label' for %s action", s.TargetLabel, act)}
	}
	if (act == Lowercase || act == Uppercase || act == KeepEqual || act == DropEqual) && s.Replacement != DefaultReplacement {
		return nil, &Error{"replacement", fmt.Sprintf("'replacement' can not be set for %s action", act)}
	}
	if act == LabelMap && !validName(r.repl) {
		return nil, &Error{"replacement", fmt.Sprintf("%q is invalid 'replacement' for %s action", s.Replacement, act)}
	}
	if act == DropEqual || act == KeepEqual {
		if s.RegexSet || s.Regex != DefaultRegex || s.Modulus != 0 || s.Separator != DefaultSeparator || s.Replacement != DefaultReplacement {
			return nil, &Error{"action", fmt.Sprintf("%s action requires only 'source_labels' and `target_label`, and no other fields", act)}
		}
	}
	if act == LabelDrop || act == LabelKeep {
		if s.SourceSet || len(s.SourceLabels) > 0 || s.TargetLabel != "" || s.Modulus != 0 || s.Separator != DefaultSeparator || s.Replacement != DefaultReplacement {
			return nil, &Error{"action", fmt.Sprintf("%s action requires only 'regex', and no other fields", act)}
		}
	}
	return r, nil
}

// validName is Prometheus' UTF-8 label name check.
func validName(b []byte) bool { return len(b) > 0 && utf8.Valid(b) }

// Rules is an ordered list of compiled rules; nil or empty relabels nothing. It is immutable and
// safe to share.
type Rules struct{ rules []*Rule }

// NewRules compiles specs in order; the error of the first that does not compile names its index.
func NewRules(specs []Spec) (*Rules, error) {
	rs := &Rules{}
	for i, s := range specs {
		r, err := Compile(s)
		if err != nil {
			return nil, fmt.Errorf("relabel rule %d: %w", i+1, err)
		}
		rs.rules = append(rs.rules, r)
	}
	return rs, nil
}

// Len is the number of rules (0 for nil).
func (rs *Rules) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.rules)
}

// Rule returns rule i.
func (rs *Rules) Rule(i int) *Rule { return rs.rules[i] }

// Head returns the first n rules.
func (rs *Rules) Head(n int) *Rules { return &Rules{rules: rs.rules[:n]} }

// Builder applies rules to one series' labels at a time, mirroring Prometheus' labels.Builder:
// the series' own labels (base, sorted by name), the labels set since (add, in the order they
// were first set) and the names deleted since (del). Its storage is reused by Reset, so
// relabeling allocates nothing once it has grown to the largest series seen.
type Builder struct {
	base []messages.Tag
	add  []messages.Tag
	del  [][]byte
	// arena holds the names and values rules made (expansions, hashes, case changes); when it
	// fills a new one is started, so that earlier labels stay valid until Reset.
	arena []byte
	// scratch for one rule: the joined source values, the expanded target and replacement, and
	// the snapshot of add and del that labelmap, labeldrop and labelkeep iterate over.
	val, tgt, res []byte
	snapAdd       []messages.Tag
	snapDel       [][]byte
	out           []messages.Tag
}

var nameLabel = []byte(NameLabel)

// Reset starts a series: metric and tags (in any order) become the base labels. The builder
// keeps referring to their bytes until the next Reset.
func (b *Builder) Reset(metric []byte, tags []messages.Tag) {
	b.base = append(b.base[:0], messages.Tag{Key: nameLabel, Value: metric})
	b.base = append(b.base, tags...)
	sortByName(b.base)
	b.add, b.del, b.arena = b.add[:0], b.del[:0], b.arena[:0]
}

// ResetLabels starts a series from labels that include __name__ (in any order).
func (b *Builder) ResetLabels(labels []messages.Tag) {
	b.base = append(b.base[:0], labels...)
	sortByName(b.base)
	b.add, b.del, b.arena = b.add[:0], b.del[:0], b.arena[:0]
}

// sortByName sorts labels by name, stably (insertion sort: few labels, no allocation).
func sortByName(ls []messages.Tag) {
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && bytes.Compare(ls[j].Key, ls[j-1].Key) < 0; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

// keep copies s into the arena, for a name or value that must outlive the rule's scratch.
func (b *Builder) keep(s []byte) []byte {
	if len(b.arena)+len(s) > cap(b.arena) {
		b.arena = make([]byte, 0, max(2*cap(b.arena), len(s), 256))
	}
	start := len(b.arena)
	b.arena = append(b.arena, s...)
	return b.arena[start:len(b.arena):len(b.arena)]
}

// Get returns the value of label n ("" when it has none).
func (b *Builder) Get(n []byte) []byte {
	for _, a := range b.add {
		if bytes.Equal(a.Key, n) {
			return a.Value
		}
	}
	for _, d := range b.del {
		if bytes.Equal(d, n) {
			return nil
		}
	}
	for _, l := range b.base {
		if bytes.Equal(l.Key, n) {
			return l.Value
		}
	}
	return nil
}

// Set sets label n to v; an empty v deletes it. n and v must stay valid until Reset.
func (b *Builder) Set(n, v []byte) {
	if len(v) == 0 {
		b.Del(n)
		return
	}
	for i := range b.add {
		if bytes.Equal(b.add[i].Key, n) {
			b.add[i].Value = v
			return
		}
	}
	b.add = append(b.add, messages.Tag{Key: n, Value: v})
}

// Del deletes label n. n must stay valid until Reset.
func (b *Builder) Del(n []byte) {
	b.add = slices.DeleteFunc(b.add, func(a messages.Tag) bool { return bytes.Equal(a.Key, n) })
	b.del = append(b.del, n)
}

// each calls f on every label as the builder holds them now, as Prometheus' Builder.Range does:
// base labels neither deleted nor set since, then the set ones; calls of Set and Del from f do
// not change what it iterates over.
func (b *Builder) each(f func(l messages.Tag)) {
	b.snapAdd = append(b.snapAdd[:0], b.add...)
	b.snapDel = append(b.snapDel[:0], b.del...)
	for _, l := range b.base {
		if slices.ContainsFunc(b.snapDel, func(d []byte) bool { return bytes.Equal(d, l.Key) }) ||
			slices.ContainsFunc(b.snapAdd, func(a messages.Tag) bool { return bytes.Equal(a.Key, l.Key) }) {
			continue
		}
		f(l)
	}
	for _, a := range b.snapAdd {
		f(a)
	}
}

// Process applies rules in order and reports whether the series is kept; Labels then returns
// its labels.
func (b *Builder) Process(rs *Rules) bool {
	if rs == nil {
		return true
	}
	for _, r := range rs.rules {
		if !b.apply(r) {
			return false
		}
	}
	return true
}

func (b *Builder) apply(r *Rule) bool {
	b.val = b.val[:0]
	for i, n := range r.source {
		if i > 0 {
			b.val = append(b.val, r.sep...)
		}
		b.val = append(b.val, b.Get(n)...)
	}
	val := b.val
	switch r.action {
	case Drop:
		if r.re.Match(val) {
			return false
		}
	case Keep:
		if !r.re.Match(val) {
			return false
		}
	case DropEqual:
		if bytes.Equal(b.Get(r.target), val) {
			return false
		}
	case KeepEqual:
		if !bytes.Equal(b.Get(r.target), val) {
			return false
		}
	case Replace:
		if len(val) == 0 && r.defaultRegex && !r.targetVar && !r.replVar {
			b.Set(r.target, r.repl)
			break
		}
		m := r.re.FindSubmatchIndex(val)
		if m == nil {
			break
		}
		b.tgt = r.re.Expand(b.tgt[:0], r.target, val, m)
		if !validName(b.tgt) {
			break
		}
		b.res = r.re.Expand(b.res[:0], r.repl, val, m)
		target := b.keep(b.tgt)
		if len(b.res) == 0 {
			b.Del(target)
			break
		}
		b.Set(target, b.keep(b.res))
	case Lowercase:
		b.Set(r.target, b.keep(bytes.ToLower(val)))
	case Uppercase:
		b.Set(r.target, b.keep(bytes.ToUpper(val)))
	case HashMod:
		sum := md5.Sum(val)
		mod := binary.BigEndian.Uint64(sum[8:]) % r.modulus
		b.res = strconv.AppendUint(b.res[:0], mod, 10)
		b.Set(r.target, b.keep(b.res))
	case LabelMap:
		b.each(func(l messages.Tag) {
			if m := r.re.FindSubmatchIndex(l.Key); m != nil {
				b.res = r.re.Expand(b.res[:0], r.repl, l.Key, m)
				b.Set(b.keep(b.res), l.Value)
			}
		})
	case LabelDrop:
		b.each(func(l messages.Tag) {
			if r.re.Match(l.Key) {
				b.Del(l.Key)
			}
		})
	case LabelKeep:
		b.each(func(l messages.Tag) {
			if !r.re.Match(l.Key) {
				b.Del(l.Key)
			}
		})
	}
	return true
}

// Labels returns the series' labels, sorted by name, as Prometheus' Builder.Labels builds them:
// the base labels neither deleted nor replaced, and the set ones. The slice is the builder's,
// valid until the next Reset or Labels.
func (b *Builder) Labels() []messages.Tag {
	if len(b.add) == 0 && len(b.del) == 0 {
		return b.base
	}
	slices.SortFunc(b.add, func(x, y messages.Tag) int { return bytes.Compare(x.Key, y.Key) })
	slices.SortFunc(b.del, bytes.Compare)
	out := b.out[:0]
	a, d := 0, 0
	for _, l := range b.base {
		for d < len(b.del) && bytes.Compare(b.del[d], l.Key) < 0 {
			d++
		}
		if d < len(b.del) && bytes.Equal(b.del[d], l.Key) {
			continue
		}
		for ; a < len(b.add) && bytes.Compare(b.add[a].Key, l.Key) < 0; a++ {
			out = append(out, b.add[a])
		}
		if a < len(b.add) && bytes.Equal(b.add[a].Key, l.Key) {
			out = append(out, b.add[a])
			a++
			continue
		}
		out = append(out, l)
	}
	out = append(out, b.add[a:]...)
	b.out = out
	return out
}

// Split returns the metric name (the first __name__ label's value; nil without one) and the
// other labels of labels, appending those to tags.
func Split(labels []messages.Tag, tags []messages.Tag) (metric []byte, rest []messages.Tag) {
	rest = tags
	named := false
	for _, l := range labels {
		if !named && bytes.Equal(l.Key, nameLabel) {
			metric, named = l.Value, true
			continue
		}
		rest = append(rest, l)
	}
	return metric, rest
}
