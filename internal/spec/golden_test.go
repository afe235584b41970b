package spec

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// render writes what a parser returned as the text kept in a golden file.
func render(t *testing.T, spec any, warnings []string, err error) string {
	t.Helper()
	var b strings.Builder
	for _, w := range warnings {
		b.WriteString("warning: " + w + "\n")
	}
	if err != nil {
		b.WriteString("error:\n" + err.Error() + "\n")
		return b.String()
	}
	out, jerr := json.MarshalIndent(spec, "", "  ")
	if jerr != nil {
		t.Fatal(jerr)
	}
	b.Write(out)
	b.WriteString("\n")
	return b.String()
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	golden := path + ".golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", golden, diff)
	}
}

func TestGoldenSpecs(t *testing.T) {
	files, _ := filepath.Glob("testdata/specs/*.*")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(filepath.Base(f), data)
			got := render(t, s, nil, err)
			if strings.HasSuffix(f, ".json") {
				s, err := ParseJSON(data)
				got += "--- ParseJSON:\n" + render(t, s, nil, err)
			}
			checkGolden(t, f, got)
		})
	}
	if n < 10 {
		t.Fatalf("found %d example specs, want at least 10", n)
	}
}

func TestGoldenScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/scripts/*.sh")
	if len(files) < 4 {
		t.Fatalf("found %d example scripts, want at least 4", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, warnings, err := ParseScript(filepath.Base(f), data)
			s.Script = "" // the script text is the input; keep the golden file short
			checkGolden(t, f, render(t, s, warnings, err))
		})
	}
}

// TestGoldenCorpus parses batch scripts written the way the user guides of
// EuroHPC sites write them (each names its guide at the top). Every one must
// be accepted as written; warnings are allowed and kept in the golden file.
func TestGoldenCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/corpus/*.sh")
	if len(files) < 10 {
		t.Fatalf("found %d corpus scripts, want at least 10", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), "# In the style of ") {
				t.Errorf("%s does not name the user guide it follows", f)
			}
			s, warnings, err := ParseScript(filepath.Base(f), data)
			if err != nil {
				t.Fatalf("a site's script is refused: %v", err)
			}
			checkRoundTrip(t, s)
			s.Script = ""
			checkGolden(t, f, render(t, s, warnings, nil))
		})
	}
}
