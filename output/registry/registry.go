// Package registry maps an output block's type to its component: the one place that knows every
// output type. Adding an output type is a package under output/ and a line here (and its block's
// settings in config).
package registry

import (
	"fmt"
	"slices"
	"sort"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/output"
	"github.com/sluicehq/sluice/output/kafka"
	"github.com/sluicehq/sluice/output/otlp"
	"github.com/sluicehq/sluice/output/remotewrite"
)

var types = map[string]output.Factory{
	config.OutputKafka:       kafka.New,
	config.OutputRemoteWrite: remotewrite.New,
	config.OutputOTLP:        otlp.New,
}

// New makes the output of block o.
func New(cfg *config.Config, o *config.Output) (output.Output, error) {
	f, ok := types[o.Type]
	if !ok {
		return nil, fmt.Errorf("output %q: no output type %q (there are %v)", o.Name, o.Type, Types())
	}
	return f(cfg, o)
}

// Types are the output types, sorted.
func Types() []string {
	out := make([]string, 0, len(types))
	for t := range types {
		out = append(out, t)
	}
	sort.Strings(out)
	return slices.Clip(out)
}
