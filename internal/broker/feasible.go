package broker

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// Infeasible says why no site of a network could ever run a job: not
// "not now" (a busy, draining or down site may take it later) but never,
// as Slurm refuses a job at submission with "Requested node
// configuration is not available".
type Infeasible struct {
	// Filter is the filter of the nearest miss: the latest, in filter
	// order, that stopped a site. The other sites failed earlier ones.
	Filter string `json:"filter"`
	// Reason names what the job asked for and what the sites have.
	Reason string `json:"reason"`
	// Sites is every site's verdict, by site id.
	Sites []SiteVerdict `json:"sites"`
}

// Feasible returns nil when some site of sites could ever run a job of
// spec sp, and otherwise why none could. It applies the broker's filters
// (Decide's, in the same order) to each site as if the site were active
// and idle: site state and load do not count, since a site comes back and
// a queue drains. Neither does the access mode, which depends on the
// broker's Config (Modes). A job pinned to a site (sp.Site) is checked
// against that site alone. Models in sp.Model are compared exactly, as
// Decide does: resolve the names users type first (config.CanonicalModel).
// Accelerators 0 is a CPU-only job, which needs a pool that declares its
// CPUs. A constraint (-C) that does not parse, or that names a feature no
// pool of the eligible sites has, is refused by FilterConstraint with the
// features there are.
func Feasible(sites []core.Site, sp *core.JobSpec) *Infeasible {
	return NewFeasibility(sites).Check(sp)
}

// Feasibility answers Feasible for one network, its broker built once:
// building one costs more than a check (pools, reasons, maps per site), and
// a batch submission checks every job against the same sites. Check only
// reads it, so one Feasibility serves concurrent requests; build a new one
// when the sites change (their states do not count).
type Feasibility struct {
	b *Broker
}

// NewFeasibility builds the broker Feasible applies, every site taken as
// active.
func NewFeasibility(sites []core.Site) *Feasibility {
	active := slices.Clone(sites)
	for i := range active {
		active[i].State = core.SiteActive
	}
	return &Feasibility{b: New(Config{}, active)}
}

// filterStage is each filter's position in filterOrder.
var filterStage = func() map[string]int {
	m := make(map[string]int, len(filterOrder))
	for i, f := range filterOrder {
		m[f] = i
	}
	return m
}()

// Check is Feasible(sites, sp) for the sites f was built from.
func (f *Feasibility) Check(sp *core.JobSpec) *Infeasible {
	b := f.b
	need := sp.Accelerators
	if need <= 0 {
		need = 1000
	}
	// Most jobs fit somewhere: find the first site that takes the job
	// before gathering every site's verdict for the refusal.
	for _, i := range b.byName {
		s := &b.sites[i]
		if fl, _ := b.filter(s, sp, need, ^uint8(0), b.wall(s, sp)); fl == "" {
			return b.unknownFeatures(sp, need)
		}
	}
	out := &Infeasible{Sites: make([]SiteVerdict, 0, len(b.sites))}
	deepest := -1
	for _, i := range b.byName {
		s := &b.sites[i]
		fl, r := b.filter(s, sp, need, ^uint8(0), b.wall(s, sp))
		out.Sites = append(out.Sites, SiteVerdict{Site: s.ID, Country: s.Country, Filtered: true, Filter: fl, Reason: r})
		deepest = max(deepest, filterStage[fl])
	}
	if deepest < 0 {
		out.Reason = "there are no sites in the network"
		return out
	}
	out.Filter = filterOrder[deepest]
	var near []*site // the sites that failed the nearest miss's filter
	for _, v := range out.Sites {
		if v.Filter == out.Filter {
			near = append(near, &b.sites[b.byID[v.Site]])
		}
	}
	out.Reason = b.infeasibleReason(out.Filter, near, sp, need)
	return out
}

// unknownFeatures refuses, as Slurm does, a constraint that names a
// feature no pool of the sites the job may use has, even when another
// alternative of it is met: the name is most likely misspelt.
func (b *Broker) unknownFeatures(sp *core.JobSpec, need core.Milli) *Infeasible {
	if sp.Constraint == "" {
		return nil
	}
	cons, err := sched.ParseConstraint(sp.Constraint)
	if err != nil {
		return nil // filter refused it already
	}
	var near []*site
	var pools []core.Pool
	for _, i := range b.byName {
		s := &b.sites[i]
		switch f, _ := b.filter(s, sp, need, ^uint8(0), b.wall(s, sp)); f {
		case FilterPin, FilterAward, FilterResidency, FilterCompute:
			continue
		}
		near = append(near, s)
		for _, p := range s.pools {
			pools = append(pools, core.Pool{Model: p.model, Features: p.features})
		}
	}
	if len(cons.Unknown(pools)) == 0 {
		return nil
	}
	out := &Infeasible{Filter: FilterConstraint, Reason: constraintReason(near, &core.JobSpec{Constraint: sp.Constraint})}
	for _, s := range near {
		out.Sites = append(out.Sites, SiteVerdict{Site: s.ID, Country: s.Country, Filtered: true, Filter: FilterConstraint, Reason: out.Reason})
	}
	return out
}

// filterOrder lists the filters in the order filter applies them.
var filterOrder = []string{FilterPin, FilterAward, FilterResidency, FilterCompute, FilterState, FilterMode, FilterModel, FilterConstraint, FilterSize, FilterWalltime}

// infeasibleReason says, for the sites near that failed filter f, what
// the job asked for and what those sites have.
func (b *Broker) infeasibleReason(f string, near []*site, sp *core.JobSpec, need core.Milli) string {
	// in: the countries the job allows, for a job the broker routes.
	in := ""
	res := countries(sp.Residency)
	if res != "" && sp.Site == "" {
		in = " in " + res
	}
	switch f {
	case FilterPin:
		return "job is pinned to site " + sp.Site + ", which the network does not have"
	case FilterAward:
		return "award " + sp.Award + " is for sites " + strings.Join(sp.AwardSites, ", ") + ", which cannot run the job"
	case FilterResidency:
		var cs []string
		for _, s := range near {
			if s.compute && !slices.Contains(cs, s.Country) {
				cs = append(cs, s.Country)
			}
		}
		slices.Sort(cs)
		if sp.Site != "" {
			return "residency " + res + ": site " + sp.Site + " is in " + near[0].Country
		}
		return "residency " + res + ": no site with compute is in those countries; sites are in " + orNone(cs)
	case FilterCompute:
		if sp.Site != "" {
			return "site " + sp.Site + " has no compute: it is an access point (antenna)"
		}
		return "no site" + in + " has compute: " + ids(near) + " are access points (antennas)"
	case FilterModel:
		var ms []string
		for _, s := range near {
			for _, p := range s.pools {
				if p.k > 0 && !slices.Contains(ms, p.model) {
					ms = append(ms, p.model)
				}
			}
		}
		slices.Sort(ms)
		if sp.Site != "" {
			return "model " + strconv.Quote(sp.Model) + ": site " + sp.Site + " has " + orNone(ms)
		}
		return "model " + strconv.Quote(sp.Model) + ": no site" + in + " has it; models" + there(in) + ": " + orNone(ms)
	case FilterConstraint:
		return constraintReason(near, sp)
	case FilterSize:
		if sp.Accelerators <= 0 {
			most, mem := 0, 0
			for _, s := range near {
				for _, p := range s.pools {
					most, mem = max(most, p.cpus), max(mem, p.mem)
				}
			}
			where := "no site" + in + " has a pool with CPUs for it"
			if sp.Site != "" {
				where = "site " + sp.Site + " has no pool with CPUs for it"
			}
			if most == 0 {
				return "a job without accelerators (" + askHost(sp) + " per node): " + where + "; no pool" + there(in) + " declares its CPUs"
			}
			return "a job without accelerators (" + askHost(sp) + " per node): " + where + "; the largest node" + there(in) + " has " +
				strconv.Itoa(most) + " CPUs and " + strconv.Itoa(mem) + " MiB"
		}
		// The largest pools of the job's model at those sites.
		var best, perNode, nodes int
		var at string
		for _, s := range near {
			// A gang may also span a site's pools of one model and
			// node size (spanFits): count those together.
			type group struct {
				model string
				k     int
			}
			spans := map[group]int{}
			for _, p := range s.pools {
				if !modelOK(sp.Model, p.model) {
					continue
				}
				perNode, nodes = max(perNode, p.k), max(nodes, p.nodes)
				if p.k*p.nodes > best {
					best, at = p.k*p.nodes, s.ID
				}
				spans[group{p.model, p.k}] += p.nodes
			}
			if !sched.CanSpan(&s.Site) {
				continue
			}
			for g, n := range spans {
				if g.k*n > best {
					best, at = g.k*n, s.ID+", as one gang across its pools"
				}
			}
		}
		of := ""
		if sp.Model != "" {
			of = " of model " + strconv.Quote(sp.Model)
		}
		pool := "no site" + in + " has a pool" + of + " that holds it"
		if sp.Site != "" {
			pool = "site " + sp.Site + " has no pool" + of + " that holds it"
		}
		return askSize(sp, need) + ": " + pool + "; the largest" + there(in) +
			" holds " + strconv.Itoa(best) + " accelerators (" + at + "), at most " + strconv.Itoa(nodes) + " nodes and " +
			strconv.Itoa(perNode) + " accelerators per node"
	case FilterWalltime:
		var longest time.Duration
		var at string
		for _, s := range near {
			if s.maxWall > longest {
				longest, at = s.maxWall, s.ID
			}
		}
		wall := b.wall(near[0], sp)
		if sp.Site != "" {
			return "walltime " + wall.String() + ": over the maximum of site " + sp.Site + ", " + longest.String()
		}
		return "walltime " + wall.String() + ": over the maximum of every site" + in + " that could hold the job; the longest is " +
			longest.String() + " (" + at + ")"
	}
	// State and mode are not applied; a filter added later says its own.
	return near[0].ID + ": " + f
}

// constraintReason says why no pool of near meets sp's constraint: it
// does not parse, names features none has (with the features there are),
// or asks for a combination none has.
func constraintReason(near []*site, sp *core.JobSpec) string {
	cons, err := sched.ParseConstraint(sp.Constraint)
	if err != nil {
		return err.Error() + "; write features joined by & (and) or | (or)"
	}
	var pools []core.Pool
	var feats, models []string
	for _, s := range near {
		for _, p := range s.pools {
			if !modelOK(sp.Model, p.model) {
				continue
			}
			pools = append(pools, core.Pool{Model: p.model, Features: p.features})
			for _, f := range p.features {
				if !slices.Contains(feats, f) {
					feats = append(feats, f)
				}
			}
			if !slices.Contains(models, p.model) {
				models = append(models, p.model)
			}
		}
	}
	slices.Sort(feats)
	slices.Sort(models)
	have := "; features there: " + orNone(feats) + "; and any word of the models: " + orNone(models)
	if unknown := cons.Unknown(pools); len(unknown) > 0 {
		return "constraint " + strconv.Quote(sp.Constraint) + ": unknown feature " + strings.Join(unknown, ", ") + have
	}
	return "constraint " + strconv.Quote(sp.Constraint) + ": no pool has that combination of features" + have
}

// askSize words a job's size as asked: "16 accelerators on 2 nodes, 8 per
// node".
func askSize(sp *core.JobSpec, need core.Milli) string {
	s := need.String() + " accelerators"
	if sp.Nodes == 1 {
		s += " on one node"
	} else if sp.Nodes > 1 {
		s += " on " + strconv.Itoa(sp.Nodes) + " nodes"
	}
	if sp.PerNode > 0 && sp.PerNode*max(sp.Nodes, 1) != need.Whole() {
		s += ", " + strconv.Itoa(sp.PerNode) + " per node" // not just the total over the nodes
	}
	return s
}

func ids(ss []*site) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return strings.Join(out, ", ")
}

func there(in string) string {
	if in == "" {
		return ""
	}
	return " there"
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// countries words a residency list, the 27 member states as "EU".
func countries(cs []string) string {
	var eu int
	for _, c := range EU27 {
		if slices.Contains(cs, c) {
			eu++
		}
	}
	if eu < len(EU27) {
		return strings.Join(cs, ", ")
	}
	out := []string{"EU"}
	for _, c := range cs {
		if !InEU(c) && c != "EU" {
			out = append(out, c)
		}
	}
	return strings.Join(out, ", ")
}
