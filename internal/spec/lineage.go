package spec

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec/diag"
)

// Purposes a lineage may declare, and precisions it may count at.
var (
	Purposes   = []string{core.PurposePretraining, core.PurposeFinetune, core.PurposeModification}
	Precisions = []string{"bf16", "fp16", "fp8"}
)

// maxLineageCount bounds parameters and tokens (1e16), far above any
// model, so that 6 x P x D stays finite.
const maxLineageCount = 1e16

// parseLineage reads a lineage written as text: a model id alone
// ("euro-7b"), or comma-separated key=value pairs with the object's keys
// ("model=ft,base_model=euro-7b,purpose=finetune,tokens=2e11"), as a #GF
// --lineage directive gives it.
func parseLineage(s string) (*core.ModelLineage, error) {
	if s == "" {
		return nil, fmt.Errorf("want an object with model (and base_model, parameters, tokens, precision, purpose), or a model id")
	}
	if !strings.Contains(s, "=") {
		return &core.ModelLineage{Model: s}, nil
	}
	g := &core.ModelLineage{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		var err error
		switch k {
		case "model":
			g.Model = v
		case "base_model":
			g.BaseModel = v
		case "precision":
			g.Precision = v
		case "purpose":
			g.Purpose = v
		case "parameters":
			g.Parameters, err = strconv.ParseFloat(v, 64)
		case "tokens":
			g.Tokens, err = strconv.ParseFloat(v, 64)
		case "base_flop":
			g.BaseFLOP, err = strconv.ParseFloat(v, 64)
		case "base_systemic_risk":
			g.BaseSystemicRisk, err = strconv.ParseBool(v)
		default:
			return nil, fmt.Errorf("unknown key %q; want model, base_model, parameters, tokens, precision, purpose, base_flop or base_systemic_risk", k)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: want a number, got %q", k, v)
		}
	}
	return g, nil
}

// validateLineage checks a job's declared model lineage (the AI Act
// ledger's input), naming lineage.<field> in each problem.
func validateLineage(l *diag.List, g *core.ModelLineage) {
	if g == nil {
		return
	}
	text := func(field, v string) {
		f := "lineage." + field
		switch {
		case len(v) > maxNameLen:
			l.Add(0, f, "at most %d bytes, got %d", maxNameLen, len(v))
		case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' }):
			l.Add(0, f, "must not contain control characters or '/', got %q", v)
		}
	}
	if g.Model == "" {
		l.Add(0, "lineage.model", "must name the model the job trains")
	}
	text("model", g.Model)
	text("base_model", g.BaseModel)
	if g.BaseModel != "" && g.BaseModel == g.Model {
		l.Add(0, "lineage.base_model", "must differ from model %q", g.Model)
	}
	for _, c := range []struct {
		field string
		v     float64
	}{{"parameters", g.Parameters}, {"tokens", g.Tokens}, {"base_flop", g.BaseFLOP}} {
		limit := maxLineageCount
		if c.field == "base_flop" {
			limit = 1e35
		}
		if c.v < 0 || c.v > limit || math.IsNaN(c.v) {
			l.Add(0, "lineage."+c.field, "must be between 0 and %g, got %g", limit, c.v)
		}
	}
	if g.Precision != "" && !slices.Contains(Precisions, strings.ToLower(g.Precision)) {
		l.Add(0, "lineage.precision", "want one of %s; got %q", strings.Join(Precisions, ", "), g.Precision)
	}
	if g.Purpose != "" && !slices.Contains(Purposes, g.Purpose) {
		l.Add(0, "lineage.purpose", "want one of %s; got %q", strings.Join(Purposes, ", "), g.Purpose)
	}
	if (g.Purpose == core.PurposeFinetune || g.Purpose == core.PurposeModification) && g.BaseModel == "" {
		l.Add(0, "lineage.base_model", "a %s names the model it starts from", g.Purpose)
	}
	if (g.BaseFLOP > 0 || g.BaseSystemicRisk) && g.BaseModel == "" {
		l.Add(0, "lineage.base_model", "base_flop and base_systemic_risk describe a base_model; name it")
	}
}
