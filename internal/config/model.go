package config

import (
	"slices"
	"strings"
	"sync"
)

// Accelerator model names as users type them. Sites name a pool's model
// canonically ("NVIDIA H100", "AMD Instinct MI250X": AcceleratorInfo.Name),
// but a Slurm user writes --gres=gpu:h100:4, a YAML spec model: H100, a
// script copied from another site nvidia-h100. The alias table maps each
// of those to the canonical name, so the scheduler, which compares model
// names exactly, sees the one name the sites use.
//
// A name is compared normalised: case folded, a leading "gpu:" dropped,
// runs of spaces and underscores turned into one "-". For each model of
// eu/accelerators.json it then matches
//
//	h100          the chip family
//	nvidia-h100   vendor and family
//	amd-instinct-mi250x, nvidia-h100: the canonical name itself
//
// and, as nvidia-smi and vendor tools write them, the vendor and family
// followed by more words ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB").

type aliasTable struct {
	canon   map[string]string   // normalised alias -> canonical name
	aliases map[string][]string // canonical name -> its aliases, as shown to users
	prefix  []aliasPrefix       // "nvidia-h100-" style prefixes, longest first
	names   []string            // canonical names, in reference-data order
}

type aliasPrefix struct{ prefix, canon string }

var loadAliases = sync.OnceValue(func() aliasTable {
	t := aliasTable{canon: map[string]string{}, aliases: map[string][]string{}}
	for _, a := range ref().accels {
		if a.Family == "" || t.aliases[a.Name] != nil {
			continue
		}
		fam := strings.ToLower(a.Family)
		vendor := strings.ToLower(a.Vendor)
		shown := []string{fam, vendor + "-" + fam}
		if n := normalizeModel(a.Name); !slices.Contains(shown, n) {
			shown = append(shown, n)
		}
		for _, s := range shown {
			t.canon[s] = a.Name
			t.prefix = append(t.prefix, aliasPrefix{s + "-", a.Name})
		}
		t.aliases[a.Name] = shown
		t.names = append(t.names, a.Name)
	}
	// The bare family ("h100-...") is not a prefix: only names that start
	// with the vendor are vendor tools' long names.
	t.prefix = slices.DeleteFunc(t.prefix, func(p aliasPrefix) bool { return !strings.Contains(p.prefix[:len(p.prefix)-1], "-") })
	slices.SortStableFunc(t.prefix, func(x, y aliasPrefix) int { return len(y.prefix) - len(x.prefix) })
	return t
})

// normalizeModel folds a typed model name for the alias table: lower
// case, no "gpu:" prefix, spaces and underscores as single dashes.
func normalizeModel(name string) string {
	s := strings.ToLower(strings.TrimSpace(name))
	s = strings.TrimPrefix(s, "gpu:")
	var b strings.Builder
	dash := false
	for _, r := range s {
		if r == ' ' || r == '_' || r == '\t' || r == '-' {
			dash = true
			continue
		}
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteRune(r)
	}
	return b.String()
}

// CanonicalModel returns the canonical model name (AcceleratorInfo.Name,
// as the built-in sites name their pools) for a model name as a user or a
// vendor tool writes it: "h100", "H100", "nvidia-h100", "gpu:h100",
// "NVIDIA H100" and "NVIDIA H100 80GB HBM3" all give "NVIDIA H100". It
// reports false for a name that is no known accelerator model ("virtual",
// "b300", a site's own name for its hardware). Name is one model, not a
// "|"-separated list.
func CanonicalModel(name string) (string, bool) {
	t := loadAliases()
	n := normalizeModel(name)
	if c, ok := t.canon[n]; ok {
		return c, true
	}
	for _, p := range t.prefix {
		if strings.HasPrefix(n, p.prefix) {
			return p.canon, true
		}
	}
	return "", false
}

// ModelAliases returns the short names that CanonicalModel maps to model's
// canonical name ("h100", "nvidia-h100" for "NVIDIA H100"), for listings;
// nil when model is no known accelerator. Model may be any name
// CanonicalModel accepts. Matching ignores case and a "gpu:" prefix, so
// those forms are not listed.
func ModelAliases(model string) []string {
	c, ok := CanonicalModel(model)
	if !ok {
		return nil
	}
	return slices.Clone(loadAliases().aliases[c])
}

// CanonicalModels lists the canonical model names the alias table knows,
// in the order of eu/accelerators.json.
func CanonicalModels() []string {
	return slices.Clone(loadAliases().names)
}
