// Package glob matches metric names against globs of dot-separated segments:
//
//   - matches within one segment ("sys.*.user" matches "sys.cpu.user"; "cpu*" matches "cpu0");
//     **  as a whole segment matches any number of segments, including none ("test.**").
//
// Patterns are compiled once; matching walks the name's bytes with no regexp and no allocation.
package glob

import (
	"bytes"
	"fmt"
	"strings"
)

// Matcher matches names against a set of compiled globs. It is immutable and safe to share.
type Matcher struct {
	exact    map[string]struct{}
	patterns [][]segment
	globs    []string
}

type segment struct {
	any  bool     // "**"
	lit  []byte   // a literal segment (no '*')
	star [][]byte // the literal pieces between '*'s of a wildcard segment
}

// Compile compiles globs. It rejects empty globs and empty segments.
func Compile(globs []string) (*Matcher, error) {
	m := &Matcher{exact: map[string]struct{}{}, globs: append([]string(nil), globs...)}
	for _, g := range globs {
		if g == "" {
			return nil, fmt.Errorf("empty glob")
		}
		if strings.HasPrefix(g, ".") || strings.HasSuffix(g, ".") || strings.Contains(g, "..") {
			return nil, fmt.Errorf("glob %q has an empty segment", g)
		}
		if !strings.Contains(g, "*") {
			m.exact[g] = struct{}{}
			continue
		}
		var segs []segment
		for _, part := range strings.Split(g, ".") { // compile time only, never on the hot path
			switch {
			case part == "**":
				segs = append(segs, segment{any: true})
			case strings.Contains(part, "**"):
				return nil, fmt.Errorf("glob %q: ** must be a whole segment", g)
			case strings.Contains(part, "*"):
				var pieces [][]byte
				for _, p := range strings.Split(part, "*") {
					pieces = append(pieces, []byte(p))
				}
				segs = append(segs, segment{star: pieces})
			default:
				segs = append(segs, segment{lit: []byte(part)})
			}
		}
		m.patterns = append(m.patterns, segs)
	}
	return m, nil
}

// Globs returns the source globs.
func (m *Matcher) Globs() []string { return m.globs }

// Empty reports whether the matcher has no globs.
func (m *Matcher) Empty() bool { return m == nil || len(m.globs) == 0 }

// Match reports whether name matches any glob.
func (m *Matcher) Match(name []byte) bool {
	if m.Empty() {
		return false
	}
	if _, ok := m.exact[string(name)]; ok { // the compiler does not copy name for a map lookup
		return true
	}
	for _, p := range m.patterns {
		if matchSegments(p, name) {
			return true
		}
	}
	return false
}

// matchSegments matches the pattern segments against name (dot-separated), backtracking over **.
func matchSegments(p []segment, name []byte) bool {
	for len(p) > 0 {
		if p[0].any {
			if len(p) == 1 {
				return true
			}
			// Try ** as zero segments, then swallow one segment at a time.
			for {
				if matchSegments(p[1:], name) {
					return true
				}
				n := bytes.IndexByte(name, '.')
				if n < 0 {
					return false
				}
				name = name[n+1:]
			}
		}
		if name == nil {
			return false
		}
		var seg []byte
		if n := bytes.IndexByte(name, '.'); n >= 0 {
			seg, name = name[:n], name[n+1:]
			if len(name) == 0 {
				name = []byte{} // a trailing dot leaves one empty segment
			}
		} else {
			seg, name = name, nil
		}
		if !p[0].match(seg) {
			return false
		}
		p = p[1:]
	}
	return name == nil
}

func (s *segment) match(seg []byte) bool {
	if s.star == nil {
		return bytes.Equal(s.lit, seg)
	}
	pieces := s.star
	first, last := pieces[0], pieces[len(pieces)-1]
	if len(seg) < len(first)+len(last) || !bytes.HasPrefix(seg, first) || !bytes.HasSuffix(seg, last) {
		return false
	}
	mid := seg[len(first) : len(seg)-len(last)]
	for _, piece := range pieces[1 : len(pieces)-1] {
		n := bytes.Index(mid, piece)
		if n < 0 {
			return false
		}
		mid = mid[n+len(piece):]
	}
	return true
}
