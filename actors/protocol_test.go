package actors

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestNoMessageIsABatch guards against a protoactor trap: a message with a GetMessages method
// is treated as a batch of messages and delivered twice (as itself and as its contents). The
// message types are read from the code — every case of a type switch on an actor context's
// Message() in this package — so a new message cannot be left out of the check.
func TestNoMessageIsABatch(t *testing.T) {
	msgs := messageTypes(t, ".")
	// The derivation must find the protocol's core messages, or it checks nothing.
	for _, want := range []string{"messages.RawBatch", "messages.ShardBatch", "trackBatch", "messages.Ticket", "flushNow", "stopFetching", "beginShutdown"} {
		if !msgs[want] {
			t.Errorf("no Receive handles %s: the type-switch scan is broken (found %v)", want, sorted(msgs))
		}
	}
	batches := map[string]bool{}
	for dir, pkg := range map[string]string{".": "", "../messages": "messages."} {
		for _, f := range parseDir(t, dir) {
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Recv == nil || fn.Name.Name != "GetMessages" {
					continue
				}
				batches[pkg+astTypeName(fn.Recv.List[0].Type)] = true
			}
		}
	}
	for m := range msgs {
		if batches[m] {
			t.Errorf("%s has a GetMessages method; protoactor would deliver it twice", m)
		}
	}
	t.Logf("%d message types checked: %v", len(msgs), sorted(msgs))
}

// messageTypes returns the types named in the cases of every type switch on X.Message() in the
// package in dir (protoactor's own lifecycle messages, package actor, left out).
func messageTypes(t *testing.T, dir string) map[string]bool {
	out := map[string]bool{}
	for _, f := range parseDir(t, dir) {
		ast.Inspect(f, func(n ast.Node) bool {
			sw, ok := n.(*ast.TypeSwitchStmt)
			if !ok || !switchesOnMessage(sw) {
				return true
			}
			for _, c := range sw.Body.List {
				for _, e := range c.(*ast.CaseClause).List {
					if name := astTypeName(e); name != "" && !strings.HasPrefix(name, "actor.") && name != "nil" {
						out[name] = true
					}
				}
			}
			return true
		})
	}
	return out
}

func switchesOnMessage(sw *ast.TypeSwitchStmt) bool {
	var x ast.Expr
	switch a := sw.Assign.(type) {
	case *ast.AssignStmt:
		x = a.Rhs[0]
	case *ast.ExprStmt:
		x = a.X
	}
	ta, ok := x.(*ast.TypeAssertExpr)
	if !ok {
		return false
	}
	call, ok := ta.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Message"
}

// astTypeName is "T", "pkg.T" for T, *T, pkg.T or *pkg.T; "" for anything else.
func astTypeName(e ast.Expr) string {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		if p, ok := x.X.(*ast.Ident); ok {
			return p.Name + "." + x.Sel.Name
		}
	}
	return ""
}

func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

func sorted(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
