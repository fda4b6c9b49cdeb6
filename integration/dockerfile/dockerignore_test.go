package dockerfile

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// TestDockerignore reads .dockerignore as BuildKit does (patternmatcher, ignorefile) and checks
// that the build context keeps every file the image's build reads — go.mod, go.sum, each Go file
// of the packages cmd/sluice is built from, the files the Dockerfile copies by name — and leaves
// out the repository's history and local build output.
func TestDockerignore(t *testing.T) {
	f, err := os.Open("../../.dockerignore")
	if err != nil {
		t.Fatalf("no .dockerignore: %v", err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(path string) bool {
		// A file is left out when it or a folder above it matches, as BuildKit walks the context.
		out, err := pm.MatchesOrParentMatches(path)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	need := []string{"go.mod", "go.sum"}
	for _, stage := range parse(t) {
		for _, in := range stage {
			if in.cmd != "COPY" || len(in.flags) > 0 { // COPY --from copies from a stage, not the context
				continue
			}
			for _, src := range in.args[:len(in.args)-1] {
				if src != "." {
					need = append(need, strings.TrimPrefix(src, "./"))
				}
			}
		}
	}
	// The build compiles ./cmd/sluice: every Go file of the module's packages it is built from.
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,GoFiles,Module", "./cmd/sluice")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := filepath.Abs("../..")
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			Dir     string
			GoFiles []string
			Module  *struct{ Main bool }
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, _ := filepath.Rel(root, p.Dir)
		for _, g := range p.GoFiles {
			need = append(need, filepath.ToSlash(filepath.Join(rel, g)))
		}
	}
	if len(need) < 20 {
		t.Fatalf("only %d files found to check: %v", len(need), need)
	}
	for _, path := range need {
		if excluded(path) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", path)
		}
	}
	for _, path := range []string{".git/config", "bin/sluice", "cmd/sluice/sluice.test", "cpu.prof"} {
		if !excluded(path) {
			t.Errorf(".dockerignore sends %s to the build", path)
		}
	}
}
