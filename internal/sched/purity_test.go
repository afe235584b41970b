package sched_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const mod = "github.com/gigafactory/gigafactory/internal/"

// pure lists the packages of the functional core (as paths from here) and
// the module packages each may import.
var pure = map[string][]string{
	// The vocabulary every pure package speaks: stdlib only.
	"../core":   nil,
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

// forbidden are the standard packages no pure package imports. Decided: no
// sync (one goroutine owns the engine), no randomness in the core at all
// (ties break by id), no I/O of any kind.
var forbidden = []string{"net", "database", "os", "log", "sync", "syscall", "unsafe", "io/ioutil", "math/rand",
	"runtime", "plugin", "embed", "crypto/rand", "path/filepath"}

func isForbidden(path string) bool {
	for _, bad := range forbidden {
		if path == bad || strings.HasPrefix(path, bad+"/") {
			return true
		}
	}
	return false
}

// TestPurity enforces the functional core: internal/core, internal/sched
// and internal/engine (and internal/broker, which the engine embeds, and
// the other pure rule packages) import only the standard library's pure
// packages and each other, never read the wall clock, sleep, start
// goroutines or print. Tests are exempt. TestPurityTransitive extends the
// import rules to every package they depend on.
func TestPurity(t *testing.T) {
	allowedLocal := pure
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
				if isForbidden(path) {
					t.Errorf("%s imports %s: the core does no I/O, concurrency or randomness", f, path)
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

// TestPurityTransitive walks the whole dependency closure of the pure
// packages (go list -deps, as the build sees it, build tags included): a
// package of this module in it must itself be one of the pure packages
// (so TestPurity's source rules hold there too), no package outside the
// standard library and this module may appear at all, and no package of
// the module in it may import a forbidden standard package. The standard
// library's own insides (fmt uses os) are not the core's imports.
func TestPurityTransitive(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the purity test needs the go command: %v", err)
	}
	pureSet := map[string]bool{}
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}\t{{.Standard}}\t{{join .Imports \" \"}}"}
	for dir := range pure {
		pureSet[mod+filepath.Base(dir)] = true
		args = append(args, dir)
	}
	out, err := exec.Command(goBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 {
			t.Fatalf("go list line %q", line)
		}
		path, std, imports := parts[0], parts[1] == "true", strings.Fields(parts[2])
		switch {
		case std:
			continue
		case !strings.HasPrefix(path, mod):
			t.Errorf("%s is in the pure packages' dependency closure: the core depends on nothing outside the standard library and itself", path)
			continue
		case !pureSet[path]:
			t.Errorf("%s is in the pure packages' dependency closure but is not held to their rules (add it to pure, or cut the import)", path)
		}
		seen++
		for _, im := range imports {
			if isForbidden(im) {
				t.Errorf("%s imports %s: the core does no I/O, concurrency or randomness", path, im)
			}
		}
	}
	if seen < len(pure) {
		t.Errorf("go list saw %d of the %d pure packages", seen, len(pure))
	}
	if !slices.Contains(strings.Fields(string(out)), mod+"core") {
		t.Errorf("internal/core missing from the closure: %s", out)
	}
}
