package registry

import (
	"slices"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestEveryConfigTypeHasAComponent: the output types config accepts are exactly those the
// registry can make, so a block that validates always has a component, and a component is never
// unreachable from the config.
func TestEveryConfigTypeHasAComponent(t *testing.T) {
	want := slices.Sorted(slices.Values(config.OutputTypes))
	if got := Types(); !slices.Equal(got, want) {
		t.Fatalf("registry has %v, config accepts %v", got, want)
	}
	if _, err := New(config.Default(), &config.Output{Type: "carrier_pigeon", Name: "p"}); err == nil {
		t.Fatal("an unknown type made an output")
	}
}
