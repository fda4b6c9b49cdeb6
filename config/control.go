package config

// Control documents: the realtime settings a control topic carries (docs/control.md).

import (
	"reflect"
	"slices"
	"strconv"

	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// ControlBlocks are the blocks a control document may hold: the settings a SIGHUP reload applies
// without a restart, in the same syntax as the config file.
// An input or output block there holds only its relabel rules.
var ControlBlocks = []string{"denylist", "validation", "limits", "shedding", "coordinator", "route", "input", "output"}

// controlDoc is what a control document decodes into; an unknown block or attribute is an error
// with its position, as in the config file.
type controlDoc struct {
	Denylist    *Denylist        `hcl:"denylist,block"`
	Validation  *Validation      `hcl:"validation,block"`
	Limits      *Limits          `hcl:"limits,block"`
	Shedding    *Shedding        `hcl:"shedding,block"`
	Coordinator *Coordinator     `hcl:"coordinator,block"`
	Routes      []*Route         `hcl:"route,block"`
	Inputs      []*controlInput  `hcl:"input,block"`
	Outputs     []*controlOutput `hcl:"output,block"`
}

// controlInput is `input "<format>" { relabel { ... } }` in a control document: the input's
// relabel rules, in place of the file's (none, when it has no relabel block).
type controlInput struct {
	Format  string     `hcl:"format,label"`
	Relabel []*Relabel `hcl:"relabel,block"`
}

// controlOutput is `output "<type>" "<name>" { relabel { ... } }`: likewise for an output.
type controlOutput struct {
	Type    string     `hcl:"type,label"`
	Name    string     `hcl:"name,label"`
	Relabel []*Relabel `hcl:"relabel,block"`
}

// LoadControl validates control document src (named filename in diagnostics) against base, the
// config from the file, and returns base with the document's blocks in place of the file's:
// every block the document holds replaces the file's whole (its omitted settings take their
// defaults, as in the file), the others stay the file's. Route blocks may change only their
// priorities, so a document that has them lists the file's routes in order. A non-nil error is
// an *Error with every problem and its position in the document. base is not modified.
func LoadControl(filename string, src []byte, base *Config) (*Config, error) {
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, &Error{Diags: diags, files: p.Files()}
	}
	body := f.Body.(*hclsyntax.Body)
	def := Default()
	doc := controlDoc{Denylist: def.Denylist, Validation: def.Validation, Limits: def.Limits, Shedding: def.Shedding, Coordinator: def.Coordinator}
	decodeDiags := dropCascades(gohcl.DecodeBody(f.Body, evalContext(), &doc))
	diags = append(diags, decodeDiags...)
	v := newValidator(filename, body, decodeDiags)
	present := map[string]bool{}
	for _, b := range body.Blocks {
		present[b.Type] = true
	}
	merged := *base
	merged.warnings = nil
	if present["denylist"] {
		merged.Denylist = doc.Denylist
	}
	if present["validation"] {
		merged.Validation = doc.Validation
	}
	if present["limits"] {
		merged.Limits = doc.Limits
	}
	if present["shedding"] {
		merged.Shedding = doc.Shedding
	}
	if present["coordinator"] {
		merged.Coordinator = doc.Coordinator
	}
	if present["route"] {
		merged.Routes = doc.Routes
		merged.validateControlRoutes(&v, base.Routes)
	}
	merged.Inputs, merged.Outputs = base.Inputs, base.Outputs
	if len(doc.Inputs) > 0 {
		merged.Inputs = slices.Clone(base.Inputs)
	}
	for _, in := range doc.Inputs {
		i := slices.IndexFunc(merged.Inputs, func(b *Input) bool { return b.Format == in.Format })
		if i < 0 {
			v.errorf("input."+in.Format, "", "No such input", "The config file has no input %q; a control document may change the relabel rules of the file's inputs only.", in.Format)
			continue
		}
		validateRules(&v, "input."+in.Format, in.Relabel)
		changed := *merged.Inputs[i]
		changed.Relabel = in.Relabel
		merged.Inputs[i] = &changed
	}
	if len(doc.Outputs) > 0 {
		merged.Outputs = slices.Clone(base.Outputs)
	}
	for _, o := range doc.Outputs {
		i := slices.IndexFunc(merged.Outputs, func(b *Output) bool { return b.Type == o.Type && b.Name == o.Name })
		if i < 0 {
			v.errorf("output."+o.Type+"."+o.Name, "", "No such output", "The config file has no output %q of type %s; a control document may change the relabel rules of the file's outputs only.", o.Name, o.Type)
			continue
		}
		validateRules(&v, "output."+o.Type+"."+o.Name, o.Relabel)
		changed := *merged.Outputs[i]
		changed.Relabel = o.Relabel
		merged.Outputs[i] = &changed
	}
	if !diags.HasErrors() {
		merged.validateRealtime(&v)
	}
	diags = tidy(append(diags, v.diags...))
	if diags.HasErrors() {
		return nil, &Error{Diags: diags, files: p.Files()}
	}
	return &merged, nil
}

// validateRealtime checks the blocks a control document may replace.
func (c *Config) validateRealtime(v *validator) {
	c.validateSupervisorAndCoordinator(v)
	c.validateLimits(v)
	c.validateDenylist(v)
	c.validateCardinality(v)
	c.validateShedding(v)
}

// validateControlRoutes checks a control document's routes: the file's, in order, with only their
// priorities changed.
func (c *Config) validateControlRoutes(v *validator, file []*Route) {
	if len(c.Routes) != len(file) {
		v.errorf("route[0]", "", "Routes differ from the file's", "The document has %d route blocks and the config file %d. A control document may change only the routes' priorities: list the file's routes in order.", len(c.Routes), len(file))
		return
	}
	for i, r := range c.Routes {
		key := "route[" + strconv.Itoa(i) + "]"
		r.deriveDefaults()
		if !contains(Priorities, r.Priority) {
			v.errorf(key, "priority", "Unknown priority", "%q is not a priority: use critical (never shed), normal or best_effort (shed first).", r.Priority)
		}
		a, b := *r, *file[i]
		a.Priority, b.Priority = "", ""
		if !reflect.DeepEqual(a, b) {
			v.errorf(key, "", "Route differs from the file's", "Route %d matches or outputs differ from the config file's route %d; a control document may change only its priority.", i+1, i+1)
		}
	}
}
