package broker_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure fails when the broker gains a dependency beyond the standard
// library, core and sched, or a forbidden standard package (I/O, clock,
// concurrency, randomness).
func TestPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/gigafactory/gigafactory/internal/core":  true,
		"github.com/gigafactory/gigafactory/internal/sched": true,
	}
	forbidden := map[string]bool{"os": true, "net": true, "net/http": true, "database/sql": true, "os/exec": true,
		"sync": true, "math/rand": true, "math/rand/v2": true, "log": true, "log/slog": true, "io/fs": true}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			first, _, _ := strings.Cut(p, "/")
			switch {
			case allowed[p]:
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s: the broker may import only the standard library, core and sched", f, p)
			case forbidden[p]:
				t.Errorf("%s imports %s: the broker does no I/O, concurrency or randomness", f, p)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}
