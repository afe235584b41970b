// Package config reads the federation config: the sites a Gigafactory
// control plane schedules onto, their pools of identical nodes, prices,
// energy figures and drivers. It also builds the two configs that need no
// file: Default, one local site for this machine, and EU, the built-in
// reference network of EuroHPC AI Factories, antennas and gigafactories.
//
// Parse reports every problem at once, each naming file, line and field
// path: "cfg.yaml:12: sites[0].pools[1].nodes: must be positive, got -2".
package config

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
	"github.com/gigafactory/gigafactory/internal/spec/diag"
	"gopkg.in/yaml.v3"
)

// Config is a federation: the sites and the scheduler's settings.
type Config struct {
	// Sites in file order, each with Accelerators filled from its pools.
	Sites []core.Site
	// Scheduler is the "scheduler" section as written, nil when absent; the
	// scheduler validates it (its nodes keep their line numbers).
	Scheduler *yaml.Node
	// File is where the config came from, for the scheduler's errors.
	File string
	// Warnings are choices made for the operator (Default's fallbacks).
	Warnings []string
	// ExchangeRates are what one hour of each accelerator model is worth
	// in a common unit ("exchange_rates: {h100: 1, a100: 0.435}": one
	// H100-hour is 2.3 A100-hours), so that an award is spent at sites of
	// different models; keys are canonical model names. gf serve starts
	// from DefaultExchangeRates (peak BF16 throughput relative to H100)
	// and these override them; a model with neither is worth 1.
	ExchangeRates map[string]float64
	// Metering is the "metering" section as written (utilisation, the
	// co-funding policy), nil when absent; package meter reads it
	// (meter.FromYAML), with its line numbers.
	Metering *yaml.Node
}

// Site returns the site with the given id.
func (c *Config) Site(id string) (*core.Site, bool) {
	for i := range c.Sites {
		if c.Sites[i].ID == id {
			return &c.Sites[i], true
		}
	}
	return nil, false
}

// Accelerators counts the accelerators of all sites.
func (c *Config) Accelerators() int {
	n := 0
	for _, s := range c.Sites {
		n += s.Totals()
	}
	return n
}

// Defaults filled in when a site leaves a field out.
const (
	DefaultPUE             = 1.2
	DefaultDefaultWalltime = core.Duration(time.Hour)
	DefaultMaxWalltime     = core.Duration(48 * time.Hour)
)

// Bounds on what a config may say; beyond them a value is surely a typo.
const (
	maxPerNode  = 1024
	maxNodes    = 1_000_000
	maxPowerW   = 10_000
	maxCarbon   = 2_000
	maxPUE      = 3.0
	maxPriceEUR = 10_000
)

// Kinds, drivers and states a site may have.
var (
	Kinds   = []string{core.SiteLocal, core.SiteFactory, core.SiteGigafactory, core.SiteAntenna}
	Drivers = []string{"local", "slurm", "sim"}
	States  = []string{core.SiteActive, core.SiteDraining, core.SiteDown}
)

var (
	topFields  = []string{"sites", "scheduler", "exchange_rates", "metering"}
	siteFields = []string{
		"id", "name", "kind", "country", "city", "driver", "driver_options", "price_per_accelerator_hour",
		"pue", "carbon_g_per_kwh", "default_walltime", "max_walltime", "state", "pools",
		"source", "assumed_size", "qos_map",
	}
	poolFields = []string{
		"name", "model", "accelerators_per_node", "nodes", "nodes_per_block", "blocks_per_pod",
		"cpus_per_node", "mem_mib_per_node", "accelerator_power_w", "features",
	}
	idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	// featureRE is a name a Slurm constraint can spell (sched.ParseConstraint).
	featureRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,63}$`)
)

// Load reads and parses the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a federation config from data; filename labels the errors.
// On failure the error is spec.Errors (diag.Errors) holding every problem.
func Parse(filename string, data []byte) (*Config, error) {
	l := &diag.List{File: filename}
	root, err := parseYAML(data)
	if err != nil {
		line, msg := 0, err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			fmt.Sscan(m[1], &line)
			msg = "invalid YAML: " + m[2]
		}
		l.Add(line, "", "%s", msg)
		return nil, l.Errs
	}
	c := &Config{File: filename}
	root = diag.Resolve(root)
	if root.Kind != yaml.MappingNode {
		l.Add(root.Line, "", "want a mapping with sites and scheduler, got %s", diag.Describe(root))
		return nil, l.Errs
	}
	haveSites := false
	for _, p := range diag.Fields(l, root, "", topFields) {
		switch p.Key {
		case "sites":
			haveSites = true
			c.Sites = parseSites(l, p.Value)
		case "scheduler":
			if !diag.IsNull(p.Value) {
				c.Scheduler = diag.Resolve(p.Value)
			}
		case "exchange_rates":
			c.ExchangeRates = parseRates(l, p.Value)
		case "metering":
			if !diag.IsNull(p.Value) {
				c.Metering = diag.Resolve(p.Value)
			}
		}
	}
	if !haveSites {
		l.Add(0, "sites", "required: list at least one site")
	}
	if len(l.Errs) > 0 {
		l.Errs.Sort()
		return nil, l.Errs
	}
	return c, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML reads exactly one YAML document; a panic deep in the YAML
// library on hostile input becomes an error.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: cannot parse input: %v", r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty file: want a mapping with sites")
	}
	return doc.Content[0], nil
}

func parseSites(l *diag.List, v *yaml.Node) []core.Site {
	n := diag.Resolve(v)
	if diag.IsNull(n) || n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		l.Add(diag.Line(n), "sites", "list at least one site")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.Add(n.Line, "sites", "want a list of sites, got %s", diag.Describe(n))
		return nil
	}
	var sites []core.Site
	firstID := map[string]int{}
	for i, sn := range n.Content {
		path := fmt.Sprintf("sites[%d]", i)
		s, idLine, ok := parseSite(l, path, sn)
		if !ok {
			continue
		}
		if s.ID != "" {
			if prev, dup := firstID[s.ID]; dup {
				l.Add(idLine, path+".id", "duplicate site id %q (first at line %d)", s.ID, prev)
			} else {
				firstID[s.ID] = idLine
			}
		}
		sites = append(sites, s)
	}
	return sites
}

// parseSite decodes and checks one site, filling defaults.
func parseSite(l *diag.List, path string, v *yaml.Node) (core.Site, int, bool) {
	var s core.Site
	n := diag.Resolve(v)
	if n == nil || n.Kind != yaml.MappingNode {
		l.Add(diag.Line(n), path, "want a site mapping, got %s", diag.Describe(n))
		return s, 0, false
	}
	have := map[string]*yaml.Node{} // field -> its key node
	var idLine int
	poolsFailed := false
	for _, p := range diag.Fields(l, n, path, siteFields) {
		have[p.Key] = p.KeyN
		f := path + "." + p.Key
		val := diag.Resolve(p.Value)
		switch p.Key {
		case "id":
			idLine = p.KeyN.Line
			if id, ok := diag.String(l, f, val); ok {
				if !idRE.MatchString(id) {
					l.Add(diag.Line(val), f, "want lower-case letters, digits, '.', '_' or '-' (at most 63), got %q", id)
				}
				s.ID = id
			}
		case "name":
			s.Name, _ = diag.String(l, f, val)
		case "kind":
			s.Kind = oneOf(l, f, val, Kinds)
		case "country":
			if c, ok := diag.String(l, f, val); ok {
				norm, valid := spec.NormalizeCountry(c)
				if !valid {
					l.Add(diag.Line(val), f, "%q is not an ISO 3166-1 alpha-2 country code", c)
				}
				s.Country = norm
			}
		case "city":
			s.City, _ = diag.String(l, f, val)
		case "driver":
			s.Driver = oneOf(l, f, val, Drivers)
		case "driver_options":
			s.DriverOptions, _ = diag.StringMap(l, f, val, nil)
		case "price_per_accelerator_hour":
			s.PricePerAccelHour = number(l, f, val, 0, maxPriceEUR)
		case "pue":
			s.PUE = number(l, f, val, 1, maxPUE)
		case "carbon_g_per_kwh":
			s.CarbonGPerKWh = number(l, f, val, 0, maxCarbon)
		case "default_walltime":
			s.DefaultWalltime = walltime(l, f, val)
		case "max_walltime":
			s.MaxWalltime = walltime(l, f, val)
		case "state":
			s.State = oneOf(l, f, val, States)
		case "pools":
			n0 := len(l.Errs)
			s.Pools = parsePools(l, f, val)
			poolsFailed = len(l.Errs) > n0
		case "source":
			s.Source, _ = diag.String(l, f, val)
		case "assumed_size":
			s.AssumedSize, _ = diag.Bool(l, f, val)
		case "qos_map":
			s.QoSMap = parseQoSMap(l, f, val)
		}
	}
	for _, req := range []string{"id", "kind", "country", "driver"} {
		if have[req] == nil {
			l.Add(diag.Line(n), path+"."+req, "required")
		}
	}
	if s.Kind == core.SiteAntenna && len(s.Pools) > 0 {
		l.Add(diag.Line(have["pools"]), path+".pools", "an antenna is an access point with no compute of its own; give it no pools")
	}
	if s.Kind != "" && s.Kind != core.SiteAntenna && len(s.Pools) == 0 && !poolsFailed {
		line := diag.Line(n)
		if k := have["pools"]; k != nil {
			line = k.Line
		}
		l.Add(line, path+".pools", "required: a %s site needs at least one pool", s.Kind)
	}
	if s.DefaultWalltime > 0 && s.MaxWalltime > 0 && s.DefaultWalltime > s.MaxWalltime {
		l.Add(diag.Line(have["default_walltime"]), path+".default_walltime",
			"%s is longer than max_walltime %s", time.Duration(s.DefaultWalltime), time.Duration(s.MaxWalltime))
	}
	fillDefaults(&s, have["pue"] != nil, have["carbon_g_per_kwh"] != nil)
	return s, idLine, true
}

// fillDefaults gives a site the values it left out.
func fillDefaults(s *core.Site, havePUE, haveCarbon bool) {
	if s.Name == "" {
		s.Name = s.ID
	}
	if s.State == "" {
		s.State = core.SiteActive
	}
	if !havePUE {
		s.PUE = DefaultPUE
	}
	if !haveCarbon {
		s.CarbonGPerKWh = GridCarbon(s.Country)
	}
	if s.DefaultWalltime == 0 {
		s.DefaultWalltime = min(DefaultDefaultWalltime, nonZero(s.MaxWalltime, DefaultDefaultWalltime))
	}
	if s.MaxWalltime == 0 {
		s.MaxWalltime = max(DefaultMaxWalltime, s.DefaultWalltime)
	}
	s.Accelerators = s.Totals()
}

func nonZero(d, fallback core.Duration) core.Duration {
	if d == 0 {
		return fallback
	}
	return d
}

func parsePools(l *diag.List, path string, v *yaml.Node) []core.Pool {
	n := diag.Resolve(v)
	if diag.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.Add(n.Line, path, "want a list of pools, got %s", diag.Describe(n))
		return nil
	}
	var pools []core.Pool
	first := map[string]int{}
	for i, pn := range n.Content {
		pp := fmt.Sprintf("%s[%d]", path, i)
		m := diag.Resolve(pn)
		if m == nil || m.Kind != yaml.MappingNode {
			l.Add(diag.Line(m), pp, "want a pool mapping, got %s", diag.Describe(m))
			continue
		}
		var p core.Pool
		have := map[string]bool{}
		accelBad := false
		for _, f := range diag.Fields(l, m, pp, poolFields) {
			have[f.Key] = true
			fp := pp + "." + f.Key
			val := diag.Resolve(f.Value)
			switch f.Key {
			case "name":
				if name, ok := diag.String(l, fp, val); ok {
					if !idRE.MatchString(name) {
						l.Add(diag.Line(val), fp, "want lower-case letters, digits, '.', '_' or '-' (at most 63), got %q", name)
					} else if prev, dup := first[name]; dup {
						l.Add(diag.Line(val), fp, "duplicate pool name %q (first at line %d)", name, prev)
					} else {
						first[name] = diag.Line(val)
					}
					p.Name = name
				}
			case "model":
				if model, ok := diag.String(l, fp, val); ok {
					if strings.TrimSpace(model) == "" {
						l.Add(diag.Line(val), fp, "must not be empty")
					}
					p.Model = model
				}
			case "accelerators_per_node":
				// 0 is a pool of CPUs only (LUMI-C), which must say
				// how many CPUs its nodes have.
				n0 := len(l.Errs)
				p.AccelPerNode = count(l, fp, val, 0, maxPerNode)
				accelBad = len(l.Errs) > n0
			case "features":
				p.Features = parseFeatures(l, fp, val)
			case "nodes":
				p.Nodes = count(l, fp, val, 1, maxNodes)
			case "nodes_per_block":
				p.NodesPerBlock = count(l, fp, val, 0, maxNodes)
			case "blocks_per_pod":
				p.BlocksPerPod = count(l, fp, val, 0, maxNodes)
			case "cpus_per_node":
				p.CPUsPerNode = count(l, fp, val, 0, 1<<20)
			case "mem_mib_per_node":
				p.MemMiBPerNode = count(l, fp, val, 0, 1<<40)
			case "accelerator_power_w":
				p.PowerW = count(l, fp, val, 0, maxPowerW)
			}
		}
		for _, req := range []string{"name", "model", "accelerators_per_node", "nodes"} {
			if !have[req] {
				l.Add(m.Line, pp+"."+req, "required")
			}
		}
		if have["accelerators_per_node"] && p.AccelPerNode == 0 && p.CPUsPerNode == 0 && !accelBad {
			l.Add(m.Line, pp+".cpus_per_node", "required for a pool without accelerators (accelerators_per_node: 0)")
		}
		pools = append(pools, p)
	}
	return pools
}

// parseFeatures decodes a pool's features: names a constraint can spell,
// each once.
func parseFeatures(l *diag.List, field string, n *yaml.Node) []string {
	fs, ok := diag.Strings(l, field, n, false)
	if !ok {
		return nil
	}
	for i, f := range fs {
		fp := fmt.Sprintf("%s[%d]", field, i)
		if !featureRE.MatchString(f) {
			l.Add(diag.Line(n), fp, "want letters, digits, '_', '.', ':' or '-' (at most 63), got %q", f)
		} else if slices.IndexFunc(fs[:i], func(g string) bool { return strings.EqualFold(f, g) }) >= 0 {
			l.Add(diag.Line(n), fp, "duplicate feature %q", f)
		}
	}
	return fs
}

// QoSNames are Gigafactory's QoS names, the values a site's qos_map may
// map to.
var QoSNames = []string{core.QoSPlayground, core.QoSNormal, core.QoSFastLane, core.QoSLargeScale, core.QoSMoonshot}

// parseQoSMap decodes a site's table from its own QoS names to
// Gigafactory's.
func parseQoSMap(l *diag.List, field string, n *yaml.Node) map[string]string {
	lines := map[string]int{}
	m, ok := diag.StringMap(l, field, n, lines)
	if !ok {
		return nil
	}
	for k, v := range m {
		if !slices.Contains(QoSNames, v) {
			f := field + "." + k
			msg := fmt.Sprintf("unknown QoS %q; want one of %s", v, strings.Join(QoSNames, ", "))
			if d := diag.Suggest(v, QoSNames); d != "" {
				msg = fmt.Sprintf("unknown QoS %q; did you mean %q? (want one of %s)", v, d, strings.Join(QoSNames, ", "))
			}
			l.Add(lines[f], f, "%s", msg)
		}
	}
	return m
}

// MapSiteQoS maps name, a QoS name a batch script gives (sbatch -q), to
// one of Gigafactory's through the sites' qos_map tables: the table of
// pinnedSite when the job is pinned, else the name every site with a
// table that has it maps it to, when they agree. ok is false when no
// table has the name, or the sites disagree on it (then the job gets the
// default QoS and a warning). Gigafactory's own names map to themselves.
func MapSiteQoS(sites []core.Site, pinnedSite, name string) (qos string, ok bool) {
	if slices.Contains(QoSNames, name) {
		return name, true
	}
	for i := range sites {
		s := &sites[i]
		if pinnedSite != "" && s.ID != pinnedSite {
			continue
		}
		q, has := s.QoSMap[name]
		if !has {
			continue
		}
		if qos != "" && q != qos {
			return "", false
		}
		qos = q
	}
	return qos, qos != ""
}

// oneOf decodes a string that must be one of allowed.
func oneOf(l *diag.List, field string, n *yaml.Node, allowed []string) string {
	s, ok := diag.String(l, field, n)
	if !ok {
		return ""
	}
	if !slices.Contains(allowed, s) {
		msg := fmt.Sprintf("unknown value %q; want one of %s", s, strings.Join(allowed, ", "))
		if d := diag.Suggest(s, allowed); d != "" {
			msg = fmt.Sprintf("unknown value %q; did you mean %q? (want one of %s)", s, d, strings.Join(allowed, ", "))
		}
		l.Add(diag.Line(n), field, "%s", msg)
		return ""
	}
	return s
}

// count decodes a whole number in [lo, hi]. A lower bound of 1 reads as
// "must be positive".
func count(l *diag.List, field string, n *yaml.Node, lo, hi int64) int {
	v, ok := diag.Int(l, field, n)
	if !ok {
		return 0
	}
	switch {
	case v < lo && lo == 1:
		l.Add(diag.Line(n), field, "must be positive, got %d", v)
		return 0
	case v < lo:
		l.Add(diag.Line(n), field, "must not be negative, got %d", v)
		return 0
	case v > hi:
		l.Add(diag.Line(n), field, "must be at most %d, got %d", hi, v)
		return 0
	}
	return int(v)
}

// number decodes a finite number in [lo, hi].
func number(l *diag.List, field string, n *yaml.Node, lo, hi float64) float64 {
	v, ok := diag.Float(l, field, n)
	if !ok {
		return 0
	}
	switch {
	case v < lo && lo == 0:
		l.Add(diag.Line(n), field, "must not be negative, got %s", n.Value)
		return 0
	case v < lo:
		l.Add(diag.Line(n), field, "must be at least %g, got %s", lo, n.Value)
		return 0
	case v > hi:
		l.Add(diag.Line(n), field, "must be at most %g, got %s", hi, n.Value)
		return 0
	}
	return v
}

// walltime decodes duration text ("48h", "2-00:00:00") or seconds.
func walltime(l *diag.List, field string, n *yaml.Node) core.Duration {
	if diag.IsNull(n) {
		return 0
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		d, err := spec.ParseWalltime(n.Value)
		if err != nil {
			l.Add(n.Line, field, "%v", err)
			return 0
		}
		return core.Duration(d)
	}
	secs := count(l, field, n, 0, int64(spec.MaxWalltime/time.Second))
	return core.Duration(time.Duration(secs) * time.Second)
}

// parseRates reads exchange_rates: model → a positive number; models by
// the names users type, stored by their canonical name.
func parseRates(l *diag.List, n *yaml.Node) map[string]float64 {
	n = diag.Resolve(n)
	if diag.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.Add(n.Line, "exchange_rates", "want a mapping of accelerator model to rate (h100: 1, a100: 0.435), got %s", diag.Describe(n))
		return nil
	}
	out := map[string]float64{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := "exchange_rates." + k.Value
		rate, ok := diag.Float(l, field, v)
		if !ok {
			continue
		}
		if rate <= 0 {
			l.Add(v.Line, field, "want a positive rate, got %v", rate)
			continue
		}
		model := k.Value
		if c, ok := CanonicalModel(model); ok {
			model = c
		}
		if _, dup := out[model]; dup {
			l.Add(k.Line, field, "model %s has a rate already", model)
			continue
		}
		out[model] = rate
	}
	return out
}
