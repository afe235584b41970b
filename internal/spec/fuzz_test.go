package spec

import (
	"errors"
	"testing"
)

// checkErr asserts the shape every parser error must have.
func checkErr(t *testing.T, err error) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error %T %v is not a non-empty spec.Errors", err, err)
	}
	for _, e := range es {
		if e == nil || e.Msg == "" || e.Line < 0 {
			t.Fatalf("malformed problem %#v in %v", e, err)
		}
	}
}

// The seed corpora live in testdata/fuzz/<FuzzName>/; the go command reads
// them on every plain `go test` run, so crashers found once stay fixed.

func FuzzParse(f *testing.F) {
	f.Add([]byte("command: [x]\naccelerators: 0.25\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkRoundTrip(t, s)
	})
}

func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`{"command": ["x"], "accelerators": 8, "nodes": 2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseJSON(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkRoundTrip(t, s)
	})
}

func FuzzParseScript(f *testing.F) {
	f.Add([]byte("#!/bin/sh\n#SBATCH -N 2 --gres=gpu:h100:4\nsrun x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, warnings, err := ParseScript("fuzz.sh", data)
		if err != nil {
			checkErr(t, err)
			return
		}
		if s.Script != string(data) || len(s.Command) != 0 {
			t.Fatalf("script not kept as given: %+v", s)
		}
		for _, w := range warnings {
			if w == "" {
				t.Fatal("empty warning")
			}
		}
		checkRoundTrip(t, s)
	})
}
