package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// LoadFile reads and validates the config at path.
func LoadFile(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(path, src)
}

// Load decodes src (named filename in diagnostics) over Default() and validates it. A non-nil
// error is an *Error carrying every problem found.
func Load(filename string, src []byte) (*Config, error) {
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, &Error{Diags: diags, files: p.Files()}
	}
	cfg := Default()
	cfg.Filename = filename
	body := f.Body.(*hclsyntax.Body)
	// gohcl creates blocks of a slice from zero values; give it defaulted ones to decode into.
	for _, b := range body.Blocks {
		switch b.Type {
		case "input":
			cfg.Inputs = append(cfg.Inputs, defaultInput())
		case "output":
			typ := ""
			if len(b.Labels) > 0 {
				typ = b.Labels[0]
			}
			cfg.Outputs = append(cfg.Outputs, defaultOutput(typ))
		}
	}
	decodeDiags := dropCascades(gohcl.DecodeBody(f.Body, evalContext(), cfg))
	diags = append(diags, decodeDiags...)
	v := newValidator(filename, body, decodeDiags)
	cfg.validate(&v)
	diags = tidy(append(diags, v.diags...))
	if diags.HasErrors() {
		return nil, &Error{Diags: diags, files: p.Files()}
	}
	if len(diags) > 0 {
		cfg.warnings = &Error{Diags: diags, files: p.Files()}
	}
	return cfg, nil
}

func evalContext() *hcl.EvalContext {
	// split("," , env("SLUICE_KAFKA_BROKERS")) turns one variable into a list (a bootstrap string).
	return &hcl.EvalContext{Functions: map[string]function.Function{"env": envFunc, "split": stdlib.SplitFunc}}
}

// envFunc is env("NAME", "default"): the environment variable, or the default when it is unset
// (an error when there is no default), because ECS passes settings through the environment.
var envFunc = function.New(&function.Spec{
	Description: "Returns an environment variable, or a default when it is unset.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	VarParam:    &function.Parameter{Name: "default", Type: cty.String},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		name := args[0].AsString()
		if v, ok := os.LookupEnv(name); ok {
			return cty.StringVal(v), nil
		}
		switch len(args) {
		case 1:
			return cty.NilVal, fmt.Errorf("environment variable %s is not set and no default was given: set it, or give one as env(%q, \"default\")", name, name)
		case 2:
			return args[1], nil
		default:
			return cty.NilVal, fmt.Errorf("env takes a name and at most one default")
		}
	},
})

// positions maps "block[.label...].attribute" and "block[.label...]" to source ranges, so that
// validation errors about decoded values point at where they were written.
type positions map[string]hcl.Range

func indexPositions(filename string, body *hclsyntax.Body) positions {
	pos := positions{"": hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}}
	pos.index("", body)
	return pos
}

// index records body's blocks, nested ones too ("kafka.tls.ca_file"), under prefix. A block
// is also recorded by its position among blocks of the same key ("route[1].outputs"), for blocks
// that repeat without labels.
func (pos positions) index(prefix string, body *hclsyntax.Body) {
	seen := map[string]int{}
	for _, b := range body.Blocks {
		key := prefix + strings.Join(append([]string{b.Type}, b.Labels...), ".")
		nth := key + "[" + strconv.Itoa(seen[key]) + "]"
		seen[key]++
		for _, k := range []string{key, nth} {
			pos[k] = b.DefRange()
			pos[k+"{}"] = b.Range()
			for name, a := range b.Body.Attributes {
				pos[k+"."+name] = a.Expr.Range()
			}
			pos.index(k+".", b.Body)
		}
	}
}

// validator collects validation diagnostics.
type validator struct {
	pos   positions
	bad   []hcl.Range // where decoding already reported an error
	diags hcl.Diagnostics
}

func newValidator(filename string, body *hclsyntax.Body, decodeDiags hcl.Diagnostics) validator {
	v := validator{pos: indexPositions(filename, body)}
	for _, d := range decodeDiags {
		if d.Subject != nil && d.Severity == hcl.DiagError {
			v.bad = append(v.bad, *d.Subject)
		}
	}
	return v
}

// at finds the range of block (and attribute, when written), falling back to the block, then to
// the file's start for settings left at their defaults.
func (v *validator) at(block, attr string) hcl.Range {
	if r, ok := v.pos[block+"."+attr]; ok && attr != "" {
		return r
	}
	if r, ok := v.pos[block]; ok {
		return r
	}
	return v.pos[""]
}

func (v *validator) errorf(block, attr, summary, format string, args ...any) {
	v.report(hcl.DiagError, block, attr, summary, format, args...)
}

// warnf reports something that does not stop the config from loading.
func (v *validator) warnf(block, attr, summary, format string, args ...any) {
	v.report(hcl.DiagWarning, block, attr, summary, format, args...)
}

func (v *validator) report(sev hcl.DiagnosticSeverity, block, attr, summary, format string, args ...any) {
	r := v.at(block, attr)
	if v.cascade(block, attr, r) {
		return
	}
	v.diags = append(v.diags, &hcl.Diagnostic{Severity: sev, Summary: summary,
		Detail: fmt.Sprintf(format, args...), Subject: r.Ptr()})
}

// cascade tells whether an error about block.attr at r follows from one decoding already
// reported: the attribute's own value failed to decode (a type error, an unset env()), or the
// setting is missing from a block that has a decode error, likely its misspelling ("topik").
func (v *validator) cascade(block, attr string, r hcl.Range) bool {
	for _, b := range v.bad {
		if b.Overlaps(r) {
			return true
		}
	}
	if _, written := v.pos[block+"."+attr]; attr == "" || written {
		return false
	}
	whole, ok := v.pos[block+"{}"]
	if !ok {
		return false
	}
	for _, b := range v.bad {
		if whole.Overlaps(b) {
			return true
		}
	}
	return false
}
