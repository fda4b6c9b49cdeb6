package config

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/mitchellh/go-wordwrap"
)

// Error is what Load returns for an invalid config: every diagnostic, once each and in the
// order of the file, with the parser's files so that they can be printed with source snippets.
type Error struct {
	Diags hcl.Diagnostics
	files map[string]*hcl.File
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, d := range e.Diags.Errs() {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.Error())
	}
	return b.String()
}

// Write prints every diagnostic once: a "file:line:column: severity: summary" line (the form
// editors and grep understand), then the source line with the place marked, then the detail.
func (e *Error) Write(w io.Writer) {
	for _, d := range e.Diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		if d.Subject == nil {
			fmt.Fprintf(w, "%s: %s\n", sev, d.Summary)
		} else {
			s := d.Subject
			fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", s.Filename, s.Start.Line, s.Start.Column, sev, d.Summary)
			if f := e.files[s.Filename]; f != nil {
				writeSnippet(w, f.Bytes, *s)
			}
		}
		if d.Detail != "" {
			for l := range strings.Lines(wordwrap.WrapString(d.Detail, 96)) {
				fmt.Fprintf(w, "    %s\n", strings.TrimRight(l, "\n"))
			}
		}
		fmt.Fprintln(w)
	}
}

// writeSnippet prints the line r starts on, numbered, with r's part of it underlined.
func writeSnippet(w io.Writer, src []byte, r hcl.Range) {
	if r.Start.Byte > len(src) {
		return
	}
	lineStart := bytes.LastIndexByte(src[:r.Start.Byte], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[lineStart:], '\n'); i >= 0 {
		lineEnd = lineStart + i
	}
	line := bytes.TrimRight(src[lineStart:lineEnd], "\r")
	prefix := fmt.Sprintf("%5d | ", r.Start.Line)
	fmt.Fprintf(w, "%s%s\n", prefix, line)
	lineLen := lineStart + len(line)
	end := r.End.Byte
	if r.End.Line != r.Start.Line || end > lineLen {
		end = lineLen
	}
	// Keep tabs as tabs so that the marks line up under them.
	var mark strings.Builder
	mark.WriteString(strings.Repeat(" ", len(prefix)-2) + "| ")
	for _, c := range src[lineStart:min(r.Start.Byte, lineLen)] {
		if c == '\t' {
			mark.WriteByte('\t')
		} else if c < 0x80 || c >= 0xC0 {
			mark.WriteByte(' ')
		}
	}
	n := 0
	for _, c := range src[min(r.Start.Byte, end):end] {
		if c < 0x80 || c >= 0xC0 {
			n++
		}
	}
	mark.WriteString(strings.Repeat("^", max(n, 1)))
	fmt.Fprintln(w, mark.String())
}

// dropCascades removes the decoder's "value must be known" errors that only repeat a failed
// function call at the same place (an unset env() is otherwise reported twice), and names an
// unset env() for what it is.
func dropCascades(diags hcl.Diagnostics) hcl.Diagnostics {
	var calls []hcl.Range
	for _, d := range diags {
		if d.Subject != nil && (d.Summary == "Error in function call" || d.Summary == "Call to unknown function") {
			calls = append(calls, *d.Subject)
		}
	}
	for _, d := range diags {
		if _, after, ok := strings.Cut(d.Detail, `Call to function "env" failed: `); ok && d.Summary == "Error in function call" {
			d.Summary = "Environment variable not set"
			d.Detail = strings.ToUpper(after[:1]) + after[1:]
		}
	}
	return slices.DeleteFunc(diags, func(d *hcl.Diagnostic) bool {
		if d.Subject == nil || !strings.Contains(d.Detail, "value must be known") {
			return false
		}
		for _, c := range calls {
			if c.Overlaps(*d.Subject) {
				return true
			}
		}
		return false
	})
}

// tidy puts diagnostics in the order of the file (errors without a place first) and drops
// repeats: the same message at the same place once.
func tidy(diags hcl.Diagnostics) hcl.Diagnostics {
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		if a.Subject == nil || b.Subject == nil {
			return cmp.Compare(boolInt(a.Subject != nil), boolInt(b.Subject != nil))
		}
		return cmp.Or(cmp.Compare(a.Subject.Filename, b.Subject.Filename),
			cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte))
	})
	return slices.CompactFunc(diags, func(a, b *hcl.Diagnostic) bool {
		return a.Severity == b.Severity && a.Summary == b.Summary && a.Detail == b.Detail &&
			(a.Subject == nil) == (b.Subject == nil) && (a.Subject == nil || a.Subject.Start == b.Subject.Start)
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// didYouMean is ` (did you mean "x"?)` for the first name in names close enough to s to be a
// likely misspelling, as HCL suggests attribute names (the same distance, the same threshold),
// else "".
func didYouMean(s string, names []string) string {
	for _, n := range names {
		if levenshtein.Distance(s, n, nil) < 3 {
			return fmt.Sprintf(" (did you mean %q?)", n)
		}
	}
	return ""
}
