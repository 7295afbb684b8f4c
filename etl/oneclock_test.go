package etl_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOneClock: engine code reads the time and waits only through an
// injected etl.Clock, so that tests drive it with a fake one (issue 13's
// "one clock"). It parses every non-test Go file of the module and fails
// on a call of the time package's clock readers and timers outside the
// clock's own file, the command (main: its profiler samples real time),
// test helpers (test servers and fakes, which stand in for the outside
// world) and the benchmarks' peers.
func TestOneClock(t *testing.T) {
	readers := []string{"Now", "Since", "Until", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick", "Sleep"}
	allowed := func(path string) bool {
		return path == "etl/clock.go" || strings.HasPrefix(path, "bench/") || strings.HasPrefix(path, "cmd/") ||
			slices.ContainsFunc(strings.Split(filepath.Dir(path), "/"), func(dir string) bool {
				return strings.HasSuffix(dir, "test") // etltest, authtest, httpapitest, mailchimptest, ...
			})
	}
	root := ".."
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if allowed(rel) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		timePkg := ""
		for _, imp := range f.Imports {
			if imp.Path.Value == `"time"` {
				timePkg = "time"
				if imp.Name != nil {
					timePkg = imp.Name.Name
				}
			}
		}
		if timePkg == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == timePkg && slices.Contains(readers, sel.Sel.Name) {
				found = append(found, fset.Position(sel.Pos()).String()+": time."+sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s outside the clock (use the run's etl.Clock)", f)
	}
}
