package spec_test

import (
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

func TestLineage(t *testing.T) {
	ok := map[string]struct {
		in   string
		want core.ModelLineage
	}{
		"yaml object": {"command: [train]\nlineage:\n  model: eurollm-9b\n  parameters: 9.2e9\n  tokens: 4e12\n  precision: fp8\n",
			core.ModelLineage{Model: "eurollm-9b", Parameters: 9.2e9, Tokens: 4e12, Precision: "fp8"}},
		"json fine-tune": {`{"command":["train"],"lineage":{"model":"ft","base_model":"llama-3-70b","purpose":"finetune","base_systemic_risk":true}}`,
			core.ModelLineage{Model: "ft", BaseModel: "llama-3-70b", Purpose: "finetune", BaseSystemicRisk: true}},
		"a model id alone": {"command: [train]\nlineage: my-model\n", core.ModelLineage{Model: "my-model"}},
	}
	for name, c := range ok {
		s, err := spec.Parse("job.yaml", []byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s.Lineage == nil || *s.Lineage != c.want {
			t.Errorf("%s: lineage %+v, want %+v", name, s.Lineage, c.want)
		}
	}
	bad := map[string]struct{ in, want string }{
		"no model":          {"command: [train]\nlineage: {tokens: 1e12}\n", "job.yaml:2: lineage.model: must name"},
		"unknown purpose":   {"command: [train]\nlineage: {model: m, purpose: distil}\n", "lineage.purpose: want one of pretraining, finetune, modification"},
		"fine-tune no base": {"command: [train]\nlineage: {model: m, purpose: finetune}\n", "lineage.base_model: a finetune names"},
		"negative tokens":   {"command: [train]\nlineage: {model: m, tokens: -1}\n", "lineage.tokens: must be between 0"},
		"bad precision":     {"command: [train]\nlineage: {model: m, precision: int4}\n", "lineage.precision: want one of bf16, fp16, fp8"},
		"unknown key":       {"command: [train]\nlineage: {model: m, flops: 3}\n", "lineage: unknown field \"flops\""},
		"slash in model":    {"command: [train]\nlineage: {model: a/b}\n", "lineage.model: must not contain"},
		"same as base":      {"command: [train]\nlineage: {model: m, base_model: m, purpose: modification}\n", "lineage.base_model: must differ"},
	}
	for name, c := range bad {
		_, err := spec.Parse("job.yaml", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

func TestLineageDirective(t *testing.T) {
	ok := map[string]struct {
		script string
		want   core.ModelLineage
	}{
		"pairs": {"#!/bin/sh\n#GF --lineage=model=ft,base_model=euro-7b,purpose=finetune,tokens=2e11,base_systemic_risk=true\ntrain\n",
			core.ModelLineage{Model: "ft", BaseModel: "euro-7b", Purpose: "finetune", Tokens: 2e11, BaseSystemicRisk: true}},
		"model alone": {"#!/bin/sh\n#GF --lineage euro-7b\ntrain\n", core.ModelLineage{Model: "euro-7b"}},
	}
	for name, c := range ok {
		s, _, err := spec.ParseScript("train.sh", []byte(c.script))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s.Lineage == nil || *s.Lineage != c.want {
			t.Errorf("%s: lineage %+v, want %+v", name, s.Lineage, c.want)
		}
	}
	bad := map[string]struct{ script, want string }{
		"unknown key":     {"#!/bin/sh\n#GF --lineage=model=m,flops=3\ntrain\n", "train.sh:2: lineage: unknown key \"flops\""},
		"not a number":    {"#!/bin/sh\n#GF --lineage=model=m,tokens=lots\ntrain\n", "train.sh:2: lineage: tokens: want a number"},
		"fine-tune alone": {"#!/bin/sh\n#GF --lineage=model=m,purpose=finetune\ntrain\n", "lineage.base_model: a finetune names"},
		"not in #SBATCH":  {"#!/bin/sh\n#SBATCH --lineage=m\ntrain\n", "train.sh:2"},
	}
	for name, c := range bad {
		_, _, err := spec.ParseScript("train.sh", []byte(c.script))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}
