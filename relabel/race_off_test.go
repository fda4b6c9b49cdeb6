//go:build !race

package relabel

const raceEnabled = false
