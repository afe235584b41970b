package config

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCanonicalModel(t *testing.T) {
	cases := map[string]struct {
		want string
		ok   bool
	}{
		"h100":                    {"NVIDIA H100", true},
		"H100":                    {"NVIDIA H100", true},
		"nvidia-h100":             {"NVIDIA H100", true},
		"NVIDIA-H100":             {"NVIDIA H100", true},
		"gpu:h100":                {"NVIDIA H100", true},
		"GPU:H100":                {"NVIDIA H100", true},
		"NVIDIA H100":             {"NVIDIA H100", true},
		"  nvidia_h100 ":          {"NVIDIA H100", true},
		"NVIDIA H100 80GB HBM3":   {"NVIDIA H100", true}, // nvidia-smi
		"NVIDIA A100-SXM4-80GB":   {"NVIDIA A100", true}, // nvidia-smi
		"a100":                    {"NVIDIA A100", true},
		"h200":                    {"NVIDIA H200", true},
		"gh200":                   {"NVIDIA GH200", true},
		"NVIDIA GH200 480GB":      {"NVIDIA GH200", true},
		"b200":                    {"NVIDIA B200", true},
		"gb200":                   {"NVIDIA GB200", true},
		"mi250x":                  {"AMD Instinct MI250X", true},
		"MI250X":                  {"AMD Instinct MI250X", true},
		"amd-mi250x":              {"AMD Instinct MI250X", true},
		"gpu:mi250x":              {"AMD Instinct MI250X", true},
		"AMD Instinct MI250X":     {"AMD Instinct MI250X", true},
		"amd-instinct-mi250x":     {"AMD Instinct MI250X", true},
		"mi300a":                  {"AMD Instinct MI300A", true},
		"mi300x":                  {"AMD Instinct MI300X", true},
		"AMD Instinct MI300X OAM": {"AMD Instinct MI300X", true},
		"virtual":                 {"", false},
		"b300":                    {"", false},
		"h100x":                   {"", false},
		"h100-pcie":               {"", false}, // a bare family is not a vendor tool's long name
		"nvidia":                  {"", false},
		"":                        {"", false},
		"gpu:":                    {"", false},
	}
	for in, c := range cases {
		got, ok := CanonicalModel(in)
		if got != c.want || ok != c.ok {
			t.Errorf("CanonicalModel(%q) = %q, %v; want %q, %v", in, got, ok, c.want, c.ok)
		}
	}
}

// Every canonical name is a pool model of the built-in network or of the
// reference data, and maps to itself; the built-in network's pool models
// are all canonical.
func TestCanonicalModelsCoverEU(t *testing.T) {
	names := CanonicalModels()
	if len(names) < 10 {
		t.Fatalf("CanonicalModels() = %v: want every model of eu/accelerators.json", names)
	}
	for _, n := range names {
		if c, ok := CanonicalModel(n); !ok || c != n {
			t.Errorf("CanonicalModel(%q) = %q, %v: a canonical name must map to itself", n, c, ok)
		}
	}
	for _, s := range EU().Sites {
		for _, p := range s.Pools {
			if !slices.Contains(names, p.Model) {
				t.Errorf("%s/%s: model %q is not a canonical name %v", s.ID, p.Name, p.Model, names)
			}
		}
	}
}

func TestModelAliases(t *testing.T) {
	cases := map[string][]string{
		"NVIDIA H100":           {"h100", "nvidia-h100"},
		"NVIDIA H100 80GB HBM3": {"h100", "nvidia-h100"},
		"AMD Instinct MI250X":   {"mi250x", "amd-mi250x", "amd-instinct-mi250x"},
		"NVIDIA GB200":          {"gb200", "nvidia-gb200"},
		"virtual":               nil,
	}
	for in, want := range cases {
		got := ModelAliases(in)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ModelAliases(%q) (-want +got):\n%s", in, diff)
		}
		for _, a := range got {
			if c, _ := CanonicalModel(a); c != mustCanon(t, in) {
				t.Errorf("alias %q of %q maps to %q", a, in, c)
			}
		}
	}
}

func mustCanon(t *testing.T, name string) string {
	t.Helper()
	c, ok := CanonicalModel(name)
	if !ok {
		t.Fatalf("CanonicalModel(%q): unknown", name)
	}
	return c
}
