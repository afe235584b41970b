package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// jsonSpec marshals a spec given as a map.
func jsonSpec(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSizeLimitsNameTheField(t *testing.T) {
	many := func(n int, v string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	env := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("V%d", i)] = "x"
		}
		return m
	}
	nested := make([][]string, 3000)
	for i := range nested {
		nested[i] = []string{"a", "b"}
	}
	tests := map[string]struct {
		spec  map[string]any
		field string
	}{
		"command entries":         {map[string]any{"command": many(MaxCommandArgs+1, "a")}, "command"},
		"a million command words": {map[string]any{"command": many(1_000_000, "")}, "command"},
		"one huge argument":       {map[string]any{"command": []string{"echo", strings.Repeat("x", MaxArgBytes+1)}}, "command[1]"},
		"escape in an argument":   {map[string]any{"command": []string{"echo", "\x1b[2J"}}, "command[1]"},
		"NUL in an argument":      {map[string]any{"command": []string{"echo", "a\x00b"}}, "command[1]"},
		"control in a script":     {map[string]any{"script": "#!/bin/sh\necho \x07\n"}, "script"},
		"carriage return script":  {map[string]any{"script": "#!/bin/sh\r\necho hi\r\n"}, "script"},
		"env entries":             {map[string]any{"command": []string{"true"}, "env": env(MaxEnvEntries + 1)}, "env"},
		"env value size":          {map[string]any{"command": []string{"true"}, "env": map[string]string{"BIG": strings.Repeat("x", MaxEnvValueBytes+1)}}, "env.BIG"},
		"env value control":       {map[string]any{"command": []string{"true"}, "env": map[string]string{"TERM": "\x1b]0;owned\x07"}}, "env.TERM"},
		"env name length":         {map[string]any{"command": []string{"true"}, "env": map[string]string{strings.Repeat("A", 300): "x"}}, "env"},
		"residency entries":       {map[string]any{"command": []string{"true"}, "residency": many(MaxListEntries+1, "DE")}, "residency"},
		"datasets entries":        {map[string]any{"command": []string{"true"}, "datasets": many(MaxListEntries+1, "d")}, "datasets"},
		"nested lists":            {map[string]any{"command": nested}, "command[2730]"},
		"unknown field, huge":     {map[string]any{"command": []string{"true"}, "junk": many(100_000, "")}, "junk"},
		"long name":               {map[string]any{"command": []string{"true"}, "name": strings.Repeat("n", 300)}, "name"},
		"escape in name":          {map[string]any{"command": []string{"true"}, "name": "a\x1bb"}, "name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseJSON(jsonSpec(t, tc.spec))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("ParseJSON accepted it (err %v)", err)
			}
			for _, e := range errs {
				if e.Field == tc.field {
					return
				}
			}
			t.Errorf("no error names %q: %v", tc.field, err)
		})
	}
}

func TestLimitsAcceptTheLargestLegalSpec(t *testing.T) {
	env := map[string]string{}
	for i := range MaxEnvEntries {
		env[fmt.Sprintf("V%d", i)] = "value\twith tab"
	}
	args := make([]string, MaxCommandArgs)
	for i := range args {
		args[i] = "a"
	}
	res := make([]string, 27)
	copy(res, EU27)
	s, err := ParseJSON(jsonSpec(t, map[string]any{"command": args, "env": env, "residency": res, "name": strings.Repeat("n", maxNameLen)}))
	if err != nil {
		t.Fatalf("largest legal spec refused: %v", err)
	}
	if len(s.Command) != MaxCommandArgs || len(s.Env) != MaxEnvEntries {
		t.Errorf("decoded %d args and %d env", len(s.Command), len(s.Env))
	}
	if _, err := ParseJSON(jsonSpec(t, map[string]any{"script": "#!/bin/sh\n\techo hi\n"})); err != nil {
		t.Errorf("script with tab and newline refused: %v", err)
	}
}

// The YAML path (spec files, the CLI) enforces the same limits through
// Validate.
func TestValidateLimits(t *testing.T) {
	args := make([]string, MaxCommandArgs+1)
	for i := range args {
		args[i] = "a"
	}
	y := "command: [" + strings.Join(args, ", ") + "]\n"
	_, err := Parse("big.yaml", []byte(y))
	if err == nil || !strings.Contains(err.Error(), "command: at most 4096 entries") {
		t.Errorf("Parse of %d args: %v", len(args), err)
	}
}
