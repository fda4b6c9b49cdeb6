// Package dockerfile checks the image's Dockerfile with BuildKit's own parser: no Docker engine
// runs where the tests do, so the properties the ECS deployment relies on are asserted on the
// parsed instructions. A module of its own, so BuildKit never enters Sluice's go.mod.
package dockerfile

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// instruction is one parsed line: its keyword, its arguments and whether it used the exec
// (JSON array) form.
type instruction struct {
	cmd   string
	flags []string // --from=build and the like
	args  []string
	json  bool
	line  int
}

func parse(t *testing.T) [][]instruction {
	t.Helper()
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile does not parse: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("parser warning: %s", w.Short)
	}
	var stages [][]instruction
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToUpper(n.Value), flags: n.Flags, json: n.Attributes["json"], line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
			in.json = in.json || a.Attributes["json"]
		}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("line %d: %s before the first FROM", in.line, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

func find(stage []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	stages := parse(t)
	if len(stages) < 2 {
		t.Fatalf("%d stage(s); want a build stage and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	var built bool
	for _, run := range find(build, "RUN") {
		s := strings.Join(run.args, " ")
		if strings.Contains(s, "go build") {
			built = true
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/sluice"} {
				if !strings.Contains(s, want) {
					t.Errorf("line %d: the go build lacks %s: %s", run.line, want, s)
				}
			}
		}
	}
	if !built {
		t.Error("the build stage has no go build")
	}

	from := find(final, "FROM")[0]
	if !strings.HasPrefix(from.args[0], "gcr.io/distroless/static") {
		t.Errorf("line %d: runtime stage FROM %s; want a distroless static image", from.line, from.args[0])
	}
	users := find(final, "USER")
	if len(users) == 0 || users[len(users)-1].args[0] != "65532:65532" {
		t.Errorf("runtime stage USER %v; want 65532:65532 (numeric, non-root, as ECS and Kubernetes check)", users)
	}
	exact := func(cmd string, want ...string) {
		t.Helper()
		ins := find(final, cmd)
		if len(ins) != 1 {
			t.Errorf("%d %s instructions in the runtime stage; want one", len(ins), cmd)
			return
		}
		if !ins[0].json {
			t.Errorf("line %d: %s in shell form; the image has no shell, use the exec (JSON) form", ins[0].line, cmd)
		}
		if !slices.Equal(ins[0].args, want) {
			t.Errorf("line %d: %s %q, want %q", ins[0].line, cmd, ins[0].args, want)
		}
	}
	exact("ENTRYPOINT", "/sluice")
	exact("CMD", "run", "-config", "/etc/sluice/sluice.hcl")

	hc := find(final, "HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("%d HEALTHCHECK instructions; want one", len(hc))
	}
	if len(hc[0].args) < 3 || hc[0].args[0] != "CMD" || !hc[0].json || !slices.Equal(hc[0].args[1:], []string{"/sluice", "health"}) {
		t.Errorf("line %d: HEALTHCHECK %q (exec form %v); want CMD [\"/sluice\",\"health\"]", hc[0].line, hc[0].args, hc[0].json)
	}

	var config bool
	for _, c := range find(final, "COPY") {
		config = config || c.args[len(c.args)-1] == "/etc/sluice/sluice.hcl"
	}
	if !config {
		t.Error("the runtime stage does not put a config at /etc/sluice/sluice.hcl, which CMD names")
	}
}
