package sched_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPurity enforces the functional core: internal/sched and
// internal/engine (and internal/broker, which the engine embeds) import
// only the standard library's pure packages and each other, never read the
// wall clock, sleep, start goroutines or print. Tests are exempt.
func TestPurity(t *testing.T) {
	const mod = "github.com/gigafactory/gigafactory/internal/"
	allowedLocal := map[string][]string{
		"../sched":  {mod + "core"},
		"../engine": {mod + "core", mod + "sched", mod + "broker"},
		// The federation broker runs inside the engine (engine/route.go),
		// so it is held to the same rules.
		"../broker": {mod + "core", mod + "sched"},
		// Dependency rules (sbatch --dependency) are decided purely too.
		"../depend": {mod + "core"},
		"../award":  {mod + "core"},
		"../aiact":  {mod + "core"}, // the AI Act ledger's rules
	}
	// Decided: no sync (one goroutine owns the engine), no randomness in
	// the core at all (ties break by id), no I/O of any kind.
	forbidden := []string{"net", "database", "os", "log", "sync", "syscall", "unsafe", "io/ioutil", "math/rand",
		"runtime", "plugin", "embed", "crypto/rand", "path/filepath"}
	badCalls := map[string]bool{
		"time.Now": true, "time.Sleep": true, "time.Since": true, "time.Until": true, "time.After": true,
		"time.Tick": true, "time.NewTimer": true, "time.NewTicker": true, "time.AfterFunc": true,
		// Printing to a writer the caller passes in is fine (without
		// package os the core cannot reach a file); stdout and stdin are not.
		"fmt.Print": true, "fmt.Println": true, "fmt.Printf": true,
		"fmt.Scan": true, "fmt.Scanln": true, "fmt.Scanf": true,
	}
	for dir, local := range allowedLocal {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", dir, err)
		}
		checked := 0
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			checked++
			fset := token.NewFileSet()
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]string{} // local name -> import path
			for _, im := range af.Imports {
				path, _ := strconv.Unquote(im.Path.Value)
				name := path[strings.LastIndex(path, "/")+1:]
				if im.Name != nil {
					name = im.Name.Name
				}
				names[name] = path
				if strings.Contains(strings.Split(path, "/")[0], ".") {
					ok := false
					for _, l := range local {
						ok = ok || path == l
					}
					if !ok {
						t.Errorf("%s imports %s: only the standard library and %v", f, path, local)
					}
					continue
				}
				for _, bad := range forbidden {
					if path == bad || strings.HasPrefix(path, bad+"/") {
						t.Errorf("%s imports %s: the core does no I/O, concurrency or randomness", f, path)
					}
				}
			}
			ast.Inspect(af, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GoStmt:
					t.Errorf("%s: go statement at %s: the core starts no goroutines", f, fset.Position(n.Pos()))
				case *ast.SelectorExpr:
					if id, ok := n.X.(*ast.Ident); ok {
						if path, ok := names[id.Name]; ok {
							if q := path + "." + n.Sel.Name; badCalls[q] {
								t.Errorf("%s: %s at %s: time is a value passed in, and the core does no I/O", f, q, fset.Position(n.Pos()))
							}
						}
					}
				}
				return true
			})
		}
		if checked == 0 {
			t.Errorf("%s: no non-test files checked", dir)
		}
	}
}
