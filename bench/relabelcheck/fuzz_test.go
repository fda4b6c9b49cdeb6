package relabelcheck

import (
	"testing"

	"github.com/sluicehq/sluice/relabel"
)

// chooser reads choices from the fuzzer's bytes (zero once they run out).
type chooser struct{ data []byte }

func (c *chooser) next(n int) int {
	if len(c.data) == 0 || n <= 1 {
		return 0
	}
	b := c.data[0]
	c.data = c.data[1:]
	return int(b) % n
}

func (c *chooser) pick(from []string) string { return from[c.next(len(from))] }

var (
	fuzzNames   = []string{"__name__", "a", "b", "host", "dc", "Env", "__meta_x", "x_1", "É", "", "a;b"}
	fuzzValues  = []string{"foo", "web-1", "PROD", "Ünï", "a;b", "1", "x\xffy", "$1", "http_requests_total", "ß"}
	fuzzRegexes = []string{"(.*)", "(.+)", "", "web-(.*)", "(a|b)", "(?i)prod", "([a-z]+)-(\\d+)", ".*(x)?", "__meta_(.+)",
		"(?P<n>.)(.*)", "[^;]*;(.*)", "\\w+", "(", "(É)"}
	fuzzTargets = []string{"t", "host", "__name__", "${1}", "$1_x", "${2}", "$n", "", "\xff", "a b"}
	fuzzRepls   = []string{"$1", "", "${1}", "$2", "$0", "x$1y", "$n", "${10}", "$$", "v", "${n}_m"}
	fuzzSeps    = []string{";", "", ",", "--"}
	fuzzMods    = []uint64{0, 1, 7, 1000}
)

// FuzzSameAsPrometheus draws random rules (every action, settings written or left out) and
// random label sets from the fuzzer's bytes, with its strings as one more regex and one more
// label value, and checks that Sluice and Prometheus' model/relabel accept the same rules and
// give the same labels and verdicts.
func FuzzSameAsPrometheus(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "(.*)", "web-1")
	f.Add([]byte{6, 3, 1, 0, 2, 2, 9, 200, 31, 7, 5, 5, 1}, "__meta_(.+)", "x")
	f.Add([]byte{5, 9, 9, 9, 1, 1, 0, 3, 3, 3, 44, 2, 8, 8}, "(?i)[a-z]+", "ÀÉ")
	f.Add([]byte{10, 2, 2, 0, 1, 1, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7}, "a|b", "")
	f.Fuzz(func(t *testing.T, data []byte, regex, value string) {
		c := &chooser{data: data}
		regexes := append(fuzzRegexes[:len(fuzzRegexes):len(fuzzRegexes)], regex)
		values := append(fuzzValues[:len(fuzzValues):len(fuzzValues)], value)
		var specs []relabel.Spec
		for n := 1 + c.next(4); n > 0; n-- {
			s := relabel.DefaultSpec()
			s.Action = relabel.ActionNames()[c.next(len(relabel.ActionNames()))]
			if c.next(2) == 1 {
				s.SourceSet = true
				s.SourceLabels = []string{}
				for k := c.next(4); k > 0; k-- {
					s.SourceLabels = append(s.SourceLabels, c.pick(fuzzNames))
				}
			}
			if c.next(4) == 1 {
				s.Separator = c.pick(fuzzSeps)
			}
			if c.next(2) == 1 {
				s.Regex, s.RegexSet = c.pick(regexes), true
			}
			if c.next(4) != 0 {
				s.TargetLabel = c.pick(fuzzTargets)
			}
			if c.next(2) == 1 {
				s.Replacement = c.pick(fuzzRepls)
			}
			if c.next(3) == 1 {
				s.Modulus = fuzzMods[c.next(len(fuzzMods))]
			}
			specs = append(specs, s)
		}
		var sets []labelPairs
		for n := 1 + c.next(3); n > 0; n-- {
			var set labelPairs
			seen := map[string]bool{}
			for k := c.next(6); k > 0; k-- {
				name := c.pick(fuzzNames)
				if name == "" || seen[name] {
					continue
				}
				seen[name] = true
				v := c.pick(values)
				if v == "" {
					continue // a label set never holds an empty value (it is no label)
				}
				set = append(set, name, v)
			}
			sets = append(sets, set)
		}
		if err := compare(specs, sets); err != nil {
			t.Fatal(err)
		}
	})
}
