package broker

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
)

// Text renders the decision for people, as `gf explain` shows it: the
// winner, each eligible site's score component by component (raw value,
// then normalised score), and each filtered site with its reason.
func (d *Decision) Text() string {
	var b strings.Builder
	if d.Winner != "" {
		fmt.Fprintf(&b, "winner: %s\n", d.Winner)
	} else {
		fmt.Fprintf(&b, "winner: none (%s)\n", d.Reason)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	header := false
	for _, v := range d.Sites {
		if v.Filtered {
			continue
		}
		if !header {
			fmt.Fprint(tw, "SITE\tCOUNTRY\tSCORE")
			for _, c := range v.Components {
				fmt.Fprintf(tw, "\t%s (x%g)", strings.ToUpper(c.Name), c.Weight)
			}
			fmt.Fprintln(tw)
			header = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f", v.Site, v.Country, v.Score)
		for _, c := range v.Components {
			fmt.Fprintf(tw, "\t%s %.2f", value(c), c.Score)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	// Filtered sites, grouped by reason, largest group first.
	type group struct {
		filter, reason string
		sites          []string
	}
	var gs []*group
	at := map[string]*group{}
	for _, v := range d.Sites {
		if !v.Filtered {
			continue
		}
		g := at[v.Reason]
		if g == nil {
			g = &group{filter: v.Filter, reason: v.Reason}
			at[v.Reason] = g
			gs = append(gs, g)
		}
		g.sites = append(g.sites, v.Site+" ("+v.Country+")")
	}
	slices.SortStableFunc(gs, func(x, y *group) int { return len(y.sites) - len(x.sites) })
	if len(gs) > 0 {
		b.WriteString("filtered out:\n")
	}
	for _, g := range gs {
		fmt.Fprintf(&b, "  %s: %d %s\n    %s\n", g.reason, len(g.sites), plural(len(g.sites)), strings.Join(g.sites, ", "))
	}
	return b.String()
}

// value renders a component's raw value with its unit.
func value(c Component) string {
	switch c.Unit {
	case "s":
		return (fmt.Sprint(secs(c.Value)))
	case "EUR":
		return fmt.Sprintf("EUR%.2f", c.Value)
	case "kgCO2e":
		return fmt.Sprintf("%.1fkg", c.Value)
	case "share":
		return fmt.Sprintf("%.0f%%", c.Value*100)
	}
	return fmt.Sprintf("%g%s", c.Value, c.Unit)
}

func secs(s float64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%.0fs", s)
	case s < 3600:
		return fmt.Sprintf("%.0fm", s/60)
	case s < 48*3600:
		return fmt.Sprintf("%.1fh", s/3600)
	}
	return fmt.Sprintf("%.1fd", s/86400)
}

func plural(n int) string {
	if n == 1 {
		return "site"
	}
	return "sites"
}
