package meter

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestFromYAML(t *testing.T) {
	node := func(s string) *yaml.Node {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err != nil {
			t.Fatal(err)
		}
		return n.Content[0]
	}
	c, err := FromYAML("gf.yaml", node("utilisation: 0.5\npolicy:\n  name: eu-2026\n  rules:\n    - {org_kind: research, public_share: 1}\n    - {org_kind: sme, site_kinds: [factory], public_share: 1, cap_accelerator_hours: 100, public_share_after_cap: 0.25}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.UtilisationUsed() != 0.5 || c.Policy.Name != "eu-2026" || len(c.Policy.Rules) != 2 || c.Policy.Rules[1].AfterCap != 0.25 || c.Policy.Rules[1].SiteKinds[0] != "factory" {
		t.Fatalf("config %+v", c)
	}
	if c, err := FromYAML("gf.yaml", nil); err != nil || c.UtilisationUsed() != DefaultUtilisation || c.policy().Name != DefaultPolicy().Name {
		t.Fatalf("no section: %+v, %v; want the defaults", c, err)
	}
	for _, bad := range []struct{ in, want string }{
		{"utilisation: 2\n", "metering.utilisation"},
		{"utilisation: fast\n", "metering.utilisation"},
		{"utilisaton: 0.4\n", `did you mean "utilisation"`},
		{"policy: {rules: [{org_kind: bank, public_share: 1}]}\n", "org_kind"},
		{"policy: {rules: [{org_kind: sme, public_share: 1.5}]}\n", "public_share"},
		{"policy: {rules: 3}\n", "metering.policy.rules"},
	} {
		if _, err := FromYAML("gf.yaml", node(bad.in)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v, want one naming %s", bad.in, err, bad.want)
		}
	}
}
