package config

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

// The rules below turn the reference data into a network to schedule on.
// Each is an assumption where the sources are silent; eu/README.md gives
// the reasons. Change them there and here together.
const (
	// assumedCount is the size of a factory system whose count is not public.
	assumedCount = 2000
	// assumedFamily is the accelerator of a system whose model is not public.
	assumedFamily = "H100"
	// gigafactoryAccelerators is the AI Continent Action Plan's scale.
	gigafactoryAccelerators = 100_000
	// gigafactoryTrainShare of a gigafactory is GB200 NVL72 racks for
	// training; the rest is HGX B200 for inference and smaller jobs.
	gigafactoryTrainShare = 0.8
	// wholeSiteGigafactory is the gigafactory built as two GB200 NVL72
	// training halls of half its accelerators each (train-a, train-b),
	// one model and node shape, so that one gang can take the whole site.
	wholeSiteGigafactory = "gf-fr"
)

// Gigafactories are the five candidate countries modelled as gigafactories,
// in order of how firm their public commitment was in the reference data
// (eu/README.md says why each was chosen).
var Gigafactories = []string{"gf-spain", "gf-baltic", "gf-fr", "gf-de", "gf-black-sea"}

// pueByKind is the assumed power usage effectiveness of each kind of site.
var pueByKind = map[string]float64{
	core.SiteFactory:     1.2, // recent EuroHPC machines, liquid-cooled, mixed old and new halls
	core.SiteGigafactory: 1.1, // new hyperscale builds
	core.SiteAntenna:     1.3, // access points; small rooms if any compute at all
}

// walltimeByKind is the (default, max) walltime of each kind of site.
var walltimeByKind = map[string][2]time.Duration{
	core.SiteFactory:     {time.Hour, 48 * time.Hour},
	core.SiteGigafactory: {time.Hour, 7 * 24 * time.Hour},
	core.SiteAntenna:     {time.Hour, 48 * time.Hour},
}

// priceByFamily is the assumed price in EUR per accelerator-hour: indicative
// figures roughly in line with 2025-26 cloud on-demand prices, not EuroHPC
// tariffs (access to AI Factories is free for eligible users).
var priceByFamily = map[string]float64{
	"A100": 1.20, "MI250X": 1.00, "H100": 2.00, "H200": 2.30, "GH200": 2.20,
	"MI300A": 1.80, "MI300X": 2.00, "B200": 3.50, "GB200": 4.00, "MI430X": 3.50,
}

// shape is how a family's nodes are built: accelerators per node, nodes per
// block (leaf switch or NVLink domain) and blocks per pod.
type shape struct{ perNode, perBlock, perPod int }

var (
	hgxShape  = shape{8, 32, 16} // 8-GPU HGX/OAM boards, 32-node leaf blocks, 16-block pods
	quadShape = shape{4, 32, 16} // 4-accelerator superchip/APU blades
	nvl72     = shape{4, 18, 16} // GB200 NVL72: 18 compute trays of 4 GPUs per NVLink rack
)

var shapeByFamily = map[string]shape{
	"A100": hgxShape, "H100": hgxShape, "H200": hgxShape, "B200": hgxShape, "MI300X": hgxShape,
	"GH200": quadShape, "MI250X": quadShape, "MI300A": quadShape, "MI430X": quadShape,
	"GB200": nvl72,
}

// fourPerNode lists systems whose sources state 4 accelerators per node,
// overriding the family shape (Leonardo's A100 and MareNostrum 5's H100
// are 4-GPU BullSequana/Atos blades; MeluXina-AI's GB200 is NVL4).
var fourPerNode = map[string]bool{"it4lia/leonardo": true, "bsc-aif/mn5-acc": true, "l-aif/meluxina-ai": true}

// assumedCounts are factory systems whose count is null in sites.json but
// whose notes quote an unverified figure, used instead of assumedCount.
var assumedCounts = map[string]int{"ai-at": 700, "piast-ai": 1500}

type sitesFile struct {
	Sites []siteRow `json:"sites"`
}

type siteRow struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Kind             string `json:"kind"`
	Country          string `json:"country"`
	City             string `json:"city"`
	AcceleratorModel string `json:"accelerator_model"`
	AcceleratorCount *int   `json:"accelerator_count"`
	Source           string `json:"source"`
}

// EU returns the reference network of the European AI compute landscape,
// built from the data embedded under eu/: the 19 EuroHPC AI Factories, the
// 13 AI Factory Antennas (sites with no pools) and five AI Gigafactories of
// 100,000 accelerators each, all run by the "sim" driver. Sizes that the
// sources do not state are assumptions, marked AssumedSize. Each call
// returns a fresh copy the caller may change.
func EU() *Config {
	c, err := buildEU()
	if err != nil {
		panic(err) // the data is compiled in and tested; this is a build defect
	}
	return c
}

func buildEU() (*Config, error) {
	var f sitesFile
	if err := readJSON("eu/sites.json", &f); err != nil {
		return nil, err
	}
	c := &Config{File: "(eu)"}
	index := map[string]int{} // site id -> index in c.Sites
	for _, r := range f.Sites {
		siteID, system, _ := strings.Cut(r.ID, "/")
		if system == "" {
			system = "main"
		}
		country, ok := spec.NormalizeCountry(r.Country)
		if !ok {
			return nil, fmt.Errorf("config: eu/sites.json: %s: bad country %q", r.ID, r.Country)
		}
		switch r.Kind {
		case core.SiteFactory:
			i, seen := index[siteID]
			if !seen {
				i = len(c.Sites)
				index[siteID] = i
				c.Sites = append(c.Sites, newSite(siteID, r.Name, core.SiteFactory, country, r.City))
			}
			s := &c.Sites[i]
			pool, assumed := factoryPool(siteID, system, r)
			s.Pools = append(s.Pools, pool)
			s.AssumedSize = s.AssumedSize || assumed
			s.Source = joinSource(s.Source, r.Source)
		case core.SiteAntenna:
			s := newSite(siteID, r.Name, core.SiteAntenna, country, r.City)
			s.Source = r.Source
			c.Sites = append(c.Sites, s)
		case core.SiteGigafactory:
			if !slices.Contains(Gigafactories, siteID) {
				continue
			}
			s := newSite(siteID, strings.TrimSuffix(r.Name, " (candidate)"), core.SiteGigafactory, country, r.City)
			s.Pools = gigafactoryPools(siteID)
			s.AssumedSize = true
			s.Source = r.Source
			c.Sites = append(c.Sites, s)
		default:
			return nil, fmt.Errorf("config: eu/sites.json: %s: unknown kind %q", r.ID, r.Kind)
		}
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		s.PricePerAccelHour = sitePrice(s.Pools)
		s.Accelerators = s.Totals()
	}
	return c, nil
}

func newSite(id, name, kind, country, city string) core.Site {
	wt := walltimeByKind[kind]
	return core.Site{
		ID: id, Name: name, Kind: kind, Country: country, City: city, Driver: "sim", State: core.SiteActive,
		PUE: pueByKind[kind], CarbonGPerKWh: GridCarbon(country),
		DefaultWalltime: core.Duration(wt[0]), MaxWalltime: core.Duration(wt[1]),
	}
}

// factoryPool models one system of a factory. It reports whether the size
// (or the model) is an assumption.
func factoryPool(siteID, system string, r siteRow) (core.Pool, bool) {
	assumed := false
	fam := family(r.AcceleratorModel)
	if fam == "" {
		fam, assumed = assumedFamily, true
	}
	count := 0
	switch {
	case r.AcceleratorCount != nil:
		count = *r.AcceleratorCount
	case assumedCounts[siteID] > 0:
		count, assumed = assumedCounts[siteID], true
	default:
		count, assumed = assumedCount, true
	}
	sh := shapeByFamily[fam]
	if fourPerNode[r.ID] {
		sh = quadShape
	}
	if count%sh.perNode != 0 {
		sh = quadShape // e.g. 340 chips of unknown make: 85 four-way nodes
	}
	return pool(system, fam, sh, count), assumed
}

// gigafactoryPools models a gigafactory's systems: GB200 NVL72 racks for
// training and HGX B200 for the rest, or, at wholeSiteGigafactory, two
// GB200 NVL72 halls of half the site each (eu/README.md says why).
func gigafactoryPools(siteID string) []core.Pool {
	if siteID == wholeSiteGigafactory {
		half := gigafactoryAccelerators / 2
		return []core.Pool{
			pool("train-a", "GB200", nvl72, half),
			pool("train-b", "GB200", nvl72, gigafactoryAccelerators-half),
		}
	}
	train := int(gigafactoryAccelerators * gigafactoryTrainShare)
	return []core.Pool{
		pool("train", "GB200", nvl72, train),
		pool("serve", "B200", hgxShape, gigafactoryAccelerators-train),
	}
}

// pool builds a pool of count accelerators of a family, rounding up to
// whole nodes.
func pool(name, fam string, sh shape, count int) core.Pool {
	info, _ := LookupAccelerator(fam)
	model := info.Name
	if model == "" {
		model = fam
	}
	return core.Pool{
		Name: name, Model: model, AccelPerNode: sh.perNode,
		Nodes:         (count + sh.perNode - 1) / sh.perNode,
		NodesPerBlock: sh.perBlock, BlocksPerPod: sh.perPod,
		PowerW: info.TDPW,
	}
}

// sitePrice is the accelerator-weighted mean of the pools' family prices,
// rounded to cents; a site without pools costs nothing.
func sitePrice(pools []core.Pool) float64 {
	var sum float64
	var n int
	for _, p := range pools {
		k := p.Nodes * p.AccelPerNode
		sum += priceByFamily[family(p.Model)] * float64(k)
		n += k
	}
	if n == 0 {
		return 0
	}
	return math.Round(sum/float64(n)*100) / 100
}

func joinSource(a, b string) string {
	if a == "" {
		return b
	}
	return a + " | " + b
}
