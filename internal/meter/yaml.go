package meter

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/gigafactory/gigafactory/internal/spec/diag"
)

// FromYAML reads the federation config's "metering" section:
//
//	metering:
//	  utilisation: 0.4          # energy and AI Act compute assume it
//	  policy:
//	    name: eu-2026
//	    rules:                  # first match wins; no match: private
//	      - {org_kind: research, public_share: 1}
//	      - {org_kind: sme, site_kinds: [factory], public_share: 1,
//	         cap_accelerator_hours: 50000, public_share_after_cap: 0}
//
// A section without a policy keeps DefaultPolicy. Errors name the field and
// line (file is the config file's name).
func FromYAML(file string, n *yaml.Node) (Config, error) {
	l := &diag.List{File: file}
	var c Config
	n = diag.Resolve(n)
	if n == nil || diag.IsNull(n) {
		return c, nil
	}
	if n.Kind != yaml.MappingNode {
		l.Add(n.Line, "metering", "want a mapping with utilisation and policy, got %s", diag.Describe(n))
		return c, l.Errs
	}
	for _, p := range diag.Fields(l, n, "metering", []string{"utilisation", "policy"}) {
		switch p.Key {
		case "utilisation":
			if v, ok := diag.Float(l, "metering.utilisation", p.Value); ok {
				if v <= 0 || v > 1 {
					l.Add(p.Value.Line, "metering.utilisation", "want a share above 0 and at most 1, got %v", v)
				}
				c.Utilisation = v
			}
		case "policy":
			c.Policy = policyFromYAML(l, p.Value)
		}
	}
	if len(l.Errs) > 0 {
		l.Errs.Sort()
		return Config{}, l.Errs
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

func policyFromYAML(l *diag.List, n *yaml.Node) Policy {
	var p Policy
	n = diag.Resolve(n)
	if n.Kind != yaml.MappingNode {
		l.Add(n.Line, "metering.policy", "want a mapping with name and rules, got %s", diag.Describe(n))
		return p
	}
	for _, f := range diag.Fields(l, n, "metering.policy", []string{"name", "rules"}) {
		switch f.Key {
		case "name":
			p.Name, _ = diag.String(l, "metering.policy.name", f.Value)
		case "rules":
			rules := diag.Resolve(f.Value)
			if rules.Kind != yaml.SequenceNode {
				l.Add(rules.Line, "metering.policy.rules", "want a list of rules, got %s", diag.Describe(rules))
				continue
			}
			for i, rn := range rules.Content {
				p.Rules = append(p.Rules, ruleFromYAML(l, fmt.Sprintf("metering.policy.rules[%d]", i), rn))
			}
		}
	}
	if p.Name == "" {
		p.Name = "config"
	}
	return p
}

func ruleFromYAML(l *diag.List, path string, n *yaml.Node) Rule {
	var r Rule
	n = diag.Resolve(n)
	if n.Kind != yaml.MappingNode {
		l.Add(n.Line, path, "want a rule (org_kind, mode, site_kinds, public_share, ...), got %s", diag.Describe(n))
		return r
	}
	known := []string{"org_kind", "mode", "site_kinds", "public_share", "cap_accelerator_hours", "public_share_after_cap"}
	for _, f := range diag.Fields(l, n, path, known) {
		field := diag.Join(path, f.Key)
		switch f.Key {
		case "org_kind":
			r.OrgKind, _ = diag.String(l, field, f.Value)
		case "mode":
			r.Mode, _ = diag.String(l, field, f.Value)
		case "site_kinds":
			r.SiteKinds, _ = diag.Strings(l, field, f.Value, true)
		case "public_share":
			r.Public, _ = diag.Float(l, field, f.Value)
		case "cap_accelerator_hours":
			r.CapAccelHours, _ = diag.Float(l, field, f.Value)
		case "public_share_after_cap":
			r.AfterCap, _ = diag.Float(l, field, f.Value)
		}
	}
	return r
}
