//go:build race

package relabel

// raceEnabled: under the race detector sync.Pool drops items at random (regexp keeps its
// matchers in one), so allocation counts mean nothing.
const raceEnabled = true
