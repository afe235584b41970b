package broker

// EU27 lists the member states of the European Union as ISO 3166-1
// alpha-2 codes (Greece as GR, not the EU's own "EL"). A job's residency
// "EU" means these countries. It matches spec.EU27, which expands "EU" at
// parse time; the broker keeps its own copy because it may import only
// the standard library, core and sched, and it still honours a literal
// "EU" in specs that did not go through the parser.
var EU27 = []string{
	"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
	"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}

// InEU reports whether country is a member state.
func InEU(country string) bool {
	for _, c := range EU27 {
		if c == country {
			return true
		}
	}
	return false
}
