package broker_test

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/broker"
	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// flat is an Estimator with a wait and headroom per site index.
type flat struct {
	wait []time.Duration
	head []float64
}

func (f *flat) Wait(i int) time.Duration {
	if i < len(f.wait) {
		return f.wait[i]
	}
	return 0
}

func (f *flat) Headroom(i int) float64 {
	if i < len(f.head) {
		return f.head[i]
	}
	return 1
}

// jobOf is a fixture builder: jobOf(8, "NVIDIA H100").qos(...).
type jobB struct{ j core.Job }

func job(accels int, model string) *jobB {
	return &jobB{core.Job{ID: 1, Spec: core.JobSpec{Accelerators: core.Milli(accels * 1000), Model: model, Walltime: core.Duration(time.Hour)}}}
}
func (b *jobB) qos(q string) *jobB    { b.j.Spec.QoS = q; return b }
func (b *jobB) res(c ...string) *jobB { b.j.Spec.Residency = c; return b }
func (b *jobB) pin(s string) *jobB    { b.j.Spec.Site = s; return b }
func (b *jobB) award(id string, sites ...string) *jobB {
	b.j.Spec.Award, b.j.Spec.AwardSites = id, sites
	return b
}
func (b *jobB) data(d ...string) *jobB     { b.j.Spec.Datasets = d; return b }
func (b *jobB) nodes(n, per int) *jobB     { b.j.Spec.Nodes, b.j.Spec.PerNode = n, per; return b }
func (b *jobB) wall(d time.Duration) *jobB { b.j.Spec.Walltime = core.Duration(d); return b }
func (b *jobB) obj() *core.Job             { return &b.j }
func (b *jobB) constraint(c string) *jobB  { b.j.Spec.Constraint = c; return b }

func euBroker(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	return broker.New(cfg, config.EU().Sites)
}

func TestEU27MatchesSpec(t *testing.T) {
	if diff := cmp.Diff(spec.EU27, broker.EU27); diff != "" {
		t.Errorf("broker.EU27 differs from spec.EU27 (-spec +broker):\n%s", diff)
	}
}

// TestFilters checks, per site, which filter removes it (or none) for one
// job each.
func TestFilters(t *testing.T) {
	cases := map[string]struct {
		job   *core.Job
		state map[string]string
		// want: site -> filter ("" = eligible); sites not listed are not checked.
		want map[string]string
	}{
		"model": {
			job:  job(8, "NVIDIA GH200").obj(),
			want: map[string]string{"jaif": "", "pharos": "", "mimer": broker.FilterModel, "gf-fr": broker.FilterModel},
		},
		"any of several models": {
			job:  job(4, "NVIDIA GH200|NVIDIA A100").obj(),
			want: map[string]string{"jaif": "", "it4lia": "", "mimer": broker.FilterModel},
		},
		"residency by country": {
			job:  job(8, "").res("SE", "FI").obj(),
			want: map[string]string{"mimer": "", "lumi-aif": "", "jaif": broker.FilterResidency, "antenna-is": broker.FilterResidency},
		},
		"residency EU literal": {
			job:  job(8, "").res("EU").obj(),
			want: map[string]string{"mimer": "", "antenna-ch": broker.FilterResidency, "antenna-be": broker.FilterCompute},
		},
		"antenna has no compute": {
			job:  job(1, "").obj(),
			want: map[string]string{"antenna-be": broker.FilterCompute, "antenna-gb": broker.FilterCompute},
		},
		"draining and down sites take nothing new": {
			job:   job(8, "NVIDIA H100").obj(),
			state: map[string]string{"mimer": core.SiteDraining, "hammerhai": core.SiteDown},
			want:  map[string]string{"mimer": broker.FilterState, "hammerhai": broker.FilterState, "nlaif": ""},
		},
		"large-scale on gigafactories only": {
			job:  job(64, "").qos(core.QoSLargeScale).obj(),
			want: map[string]string{"gf-fr": "", "jaif": broker.FilterMode},
		},
		"moonshot on gigafactories only": {
			job:  job(4096, "NVIDIA GB200").qos(core.QoSMoonshot).obj(),
			want: map[string]string{"gf-de": "", "it4lia": broker.FilterMode},
		},
		"playground on AI factories only": {
			job:  job(1, "").qos(core.QoSPlayground).obj(),
			want: map[string]string{"mimer": "", "gf-fr": broker.FilterMode},
		},
		"largest job the site holds": {
			job:  job(4000, "NVIDIA H100").obj(),
			want: map[string]string{"bsc-aif": "", "mimer": broker.FilterSize, "czai": broker.FilterSize},
		},
		"node shape": {
			job:  job(16, "NVIDIA H100").nodes(2, 8).obj(),
			want: map[string]string{"mimer": "", "ai-at": broker.FilterSize},
		},
		"site pin": {
			job:  job(8, "").pin("mimer").obj(),
			want: map[string]string{"mimer": "", "nlaif": broker.FilterPin},
		},
		"the award's sites only": {
			job:  job(8, "").award("EHPC-AIF-2026PG01-0001", "mimer", "lumi-aif").obj(),
			want: map[string]string{"mimer": "", "lumi-aif": "", "nlaif": broker.FilterAward, "jaif": broker.FilterAward},
		},
		"walltime over the site's maximum": {
			job:  job(8, "").wall(72 * time.Hour).obj(),
			want: map[string]string{"gf-fr": "", "mimer": broker.FilterWalltime},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := euBroker(t, broker.Config{})
			for s, st := range tc.state {
				if !b.SetState(s, st) {
					t.Fatalf("unknown site %s", s)
				}
			}
			d := b.Decide(tc.job, &flat{})
			got := map[string]string{}
			for s := range tc.want {
				v := d.Verdict(s)
				if v == nil {
					t.Fatalf("no verdict for %s", s)
				}
				got[s] = v.Filter
				if v.Filtered != (v.Filter != "") || v.Filtered != (v.Reason != "") {
					t.Errorf("%s: Filtered=%v Filter=%q Reason=%q disagree", s, v.Filtered, v.Filter, v.Reason)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("filters (-want +got):\n%s\n%s", diff, d.Text())
			}
			if d.Winner != "" {
				if v := d.Verdict(d.Winner); v.Filtered {
					t.Errorf("winner %s was filtered: %s", d.Winner, v.Reason)
				}
			}
		})
	}
}

// TestScores checks that each component steers the choice the way it
// should when it alone differs.
func TestScores(t *testing.T) {
	sites := func() []core.Site {
		mk := func(id, country string, price, co2 float64) core.Site {
			return core.Site{ID: id, Kind: core.SiteFactory, Country: country, State: core.SiteActive, PUE: 1.2,
				CarbonGPerKWh: co2, PricePerAccelHour: price,
				Pools: []core.Pool{{Name: "gpu", Model: "H100", AccelPerNode: 8, Nodes: 10, PowerW: 700}}}
		}
		return []core.Site{mk("a", "DE", 2, 300), mk("b", "FR", 2, 300), mk("c", "SE", 2, 300)}
	}
	cases := map[string]struct {
		sites func([]core.Site)
		w     broker.Weights
		est   flat
		job   *core.Job
		reg   map[string][]string
		want  string
	}{
		"all equal: lowest id":  {want: "a"},
		"sooner start wins":     {est: flat{wait: []time.Duration{2 * time.Hour, time.Hour, 0}}, want: "c"},
		"cheaper wins":          {sites: func(s []core.Site) { s[1].PricePerAccelHour = 1.5 }, want: "b"},
		"cleaner grid wins":     {sites: func(s []core.Site) { s[2].CarbonGPerKWh = 40 }, want: "c"},
		"lower PUE wins":        {sites: func(s []core.Site) { s[1].PUE = 1.05 }, want: "b"},
		"data gravity":          {reg: map[string][]string{"corpus": {"c"}}, job: job(8, "").data("corpus").obj(), want: "c"},
		"fair-share headroom":   {est: flat{head: []float64{0.1, 0.9, 0.5}}, want: "b"},
		"weights: price only":   {w: broker.Weights{Price: 1}, sites: func(s []core.Site) { s[0].PricePerAccelHour = 1; s[2].CarbonGPerKWh = 10 }, want: "a"},
		"weights: carbon only":  {w: broker.Weights{Carbon: 1}, sites: func(s []core.Site) { s[0].PricePerAccelHour = 1; s[2].CarbonGPerKWh = 10 }, want: "c"},
		"start beats price 4:1": {est: flat{wait: []time.Duration{0, 6 * time.Hour, 6 * time.Hour}}, sites: func(s []core.Site) { s[1].PricePerAccelHour = 1 }, want: "a"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ss := sites()
			if tc.sites != nil {
				tc.sites(ss)
			}
			j := tc.job
			if j == nil {
				j = job(8, "").obj()
			}
			b := broker.New(broker.Config{Weights: tc.w, Datasets: tc.reg}, ss)
			d := b.Decide(j, &tc.est)
			if d.Winner != tc.want {
				t.Errorf("winner %q, want %q\n%s", d.Winner, tc.want, d.Text())
			}
			for _, v := range d.Sites {
				for _, c := range v.Components {
					if c.Score < 0 || c.Score > 1 {
						t.Errorf("%s %s: score %g outside [0,1]", v.Site, c.Name, c.Score)
					}
				}
			}
			if !slices.IsSortedFunc(d.Sites, func(a, b broker.SiteVerdict) int {
				if a.Score != b.Score {
					if a.Score > b.Score {
						return -1
					}
					return 1
				}
				return 0
			}) {
				t.Errorf("verdicts not best first:\n%s", d.Text())
			}
		})
	}
}

// TestCarbonFormula pins the carbon component: grid intensity x
// accelerators x walltime x board power x PUE.
func TestCarbonFormula(t *testing.T) {
	s := core.Site{ID: "x", Kind: core.SiteFactory, Country: "DE", PUE: 1.25, CarbonGPerKWh: 400, PricePerAccelHour: 2,
		Pools: []core.Pool{{Name: "gpu", Model: "H100", AccelPerNode: 8, Nodes: 4, PowerW: 700}}}
	d := broker.New(broker.Config{}, []core.Site{s}).Decide(job(8, "").wall(10*time.Hour).obj(), &flat{})
	v := d.Verdict("x")
	// 8 x 10 h x 0.7 kW x 1.25 = 70 kWh; x 400 g = 28 kg.
	want := []broker.Component{
		{Name: "start", Value: 0, Unit: "s", Score: 1, Weight: 4},
		{Name: "price", Value: 160, Unit: "EUR", Score: 1, Weight: 1},
		{Name: "carbon", Value: 28, Unit: "kgCO2e", Score: 1, Weight: 1},
		{Name: "data", Value: 1, Unit: "share", Score: 1, Weight: 2},
		{Name: "fairshare", Value: 1, Unit: "share", Score: 1, Weight: 1},
	}
	if diff := cmp.Diff(want, v.Components); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
}

// TestResidencyProperty: over random jobs on the EU network with random
// site states, the winner is always in an allowed country, active, and
// never an antenna; and an eligible site exists whenever there is no
// winner only if every site was filtered.
func TestResidencyProperty(t *testing.T) {
	eu := config.EU()
	b := broker.New(broker.Config{}, eu.Sites)
	rng := rand.New(rand.NewPCG(4, 4))
	var countries []string
	for _, s := range eu.Sites {
		if !slices.Contains(countries, s.Country) {
			countries = append(countries, s.Country)
		}
	}
	models := []string{"", "NVIDIA H100", "NVIDIA GB200", "NVIDIA GH200|NVIDIA A100", "AMD Instinct MI250X", "NVIDIA B200"}
	qos := []string{"", core.QoSPlayground, core.QoSNormal, core.QoSFastLane, core.QoSLargeScale, core.QoSMoonshot}
	states := []string{core.SiteActive, core.SiteActive, core.SiteActive, core.SiteDraining, core.SiteDown}
	won := 0
	for n := range 20000 {
		if n%500 == 0 {
			for _, s := range eu.Sites {
				b.SetState(s.ID, states[rng.IntN(len(states))])
			}
		}
		j := job(1<<rng.IntN(12), models[rng.IntN(len(models))]).qos(qos[rng.IntN(len(qos))]).obj()
		switch rng.IntN(4) {
		case 0:
		case 1:
			j.Spec.Residency = []string{"EU"}
		default:
			for range 1 + rng.IntN(3) {
				j.Spec.Residency = append(j.Spec.Residency, countries[rng.IntN(len(countries))])
			}
		}
		est := &flat{wait: make([]time.Duration, len(eu.Sites))}
		for i := range est.wait {
			est.wait[i] = time.Duration(rng.IntN(48)) * time.Hour
		}
		d := b.Decide(j, est)
		if d.Winner == "" {
			for _, v := range d.Sites {
				if !v.Filtered {
					t.Fatalf("job %+v: no winner but %s eligible", j.Spec, v.Site)
				}
			}
			continue
		}
		won++
		s, _ := eu.Site(d.Winner)
		ok := len(j.Spec.Residency) == 0 || slices.Contains(j.Spec.Residency, s.Country) || slices.Contains(j.Spec.Residency, "EU") && spec.InEU(s.Country)
		if !ok {
			t.Fatalf("job with residency %v landed at %s in %s", j.Spec.Residency, s.ID, s.Country)
		}
		if st := b.State(d.Winner); st != core.SiteActive {
			t.Fatalf("job landed at %s which is %s", d.Winner, st)
		}
		if s.Kind == core.SiteAntenna {
			t.Fatalf("job landed at antenna %s", s.ID)
		}
	}
	if won < 5000 {
		t.Errorf("only %d of 20000 random jobs found a site: the property is checked too rarely", won)
	}
}

func TestDeterministic(t *testing.T) {
	b := euBroker(t, broker.Config{})
	j := job(8, "").obj()
	first := b.Decide(j, &flat{})
	for range 20 {
		if diff := cmp.Diff(first, b.Decide(j, &flat{})); diff != "" {
			t.Fatalf("decisions differ:\n%s", diff)
		}
	}
	// Two sites alike in every way: the lower id wins.
	s := config.EU().Sites
	var twins []core.Site
	for _, x := range s {
		if x.ID == "slaif" || x.ID == "brain-pp" {
			x.Country, x.CarbonGPerKWh = "SI", 231
			twins = append(twins, x)
		}
	}
	d := broker.New(broker.Config{}, twins).Decide(j, &flat{})
	if d.Winner != "brain-pp" || d.Sites[0].Score != d.Sites[1].Score {
		t.Errorf("twins: winner %s, want brain-pp on a tie\n%s", d.Winner, d.Text())
	}
}

func TestNoSite(t *testing.T) {
	b := euBroker(t, broker.Config{})
	d := b.Decide(job(8, "NVIDIA H100").res("CH").obj(), &flat{})
	want := "no eligible site: 37 sites filtered out, 36 by residency"
	if d.Winner != "" || d.Reason != want {
		t.Errorf("got winner %q reason %q, want none and %q", d.Winner, d.Reason, want)
	}
}

// TestExplainGolden renders decisions on the EU network as gf explain
// shows them; -update rewrites testdata.
func TestExplainGolden(t *testing.T) {
	cases := map[string]struct {
		job   *core.Job
		state map[string]string
		est   func(b *broker.Broker) *flat
	}{
		"h100-eu-data": {
			job:   job(8, "NVIDIA H100").res("EU").data("eurollm-corpus").obj(),
			state: map[string]string{"hammerhai": core.SiteDraining},
			est: func(b *broker.Broker) *flat {
				f := &flat{wait: make([]time.Duration, len(b.Sites())), head: make([]float64, len(b.Sites()))}
				for i, s := range b.Sites() {
					f.wait[i] = time.Duration(len(s.ID)) * 20 * time.Minute
					f.head[i] = float64(i%5) / 4
				}
				return f
			},
		},
		"moonshot-fr-de": {
			job:   job(8192, "NVIDIA GB200").qos(core.QoSMoonshot).res("FR", "DE").wall(72 * time.Hour).obj(),
			state: map[string]string{"gf-fr": core.SiteDown},
		},
		"no-site": {
			job: job(8, "").res("CH", "GB").obj(),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := euBroker(t, broker.Config{Datasets: map[string][]string{"eurollm-corpus": {"mimer", "bsc-aif", "gf-spain"}}})
			for s, st := range tc.state {
				b.SetState(s, st)
			}
			est := &flat{}
			if tc.est != nil {
				est = tc.est(b)
			}
			d := b.Decide(tc.job, est)
			golden(t, filepath.Join("testdata", name+".golden"), d.Text())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestDecideWinnerMatchesDecide: over random jobs, DecideWinner picks the
// same winner with the same verdict as Decide, lists it alone, and, with
// no winner, gives Decide's whole decision (its reason needs every site).
func TestDecideWinnerMatchesDecide(t *testing.T) {
	eu := config.EU()
	full, lean := broker.New(broker.Config{}, eu.Sites), broker.New(broker.Config{}, eu.Sites)
	rng := rand.New(rand.NewPCG(8, 8))
	models := []string{"", "NVIDIA H100", "NVIDIA GB200", "AMD Instinct MI250X"}
	won, lost := 0, 0
	for range 3000 {
		j := job(1<<rng.IntN(15), models[rng.IntN(len(models))]).obj()
		if rng.IntN(4) == 0 {
			j.Spec.Residency = []string{eu.Sites[rng.IntN(len(eu.Sites))].Country}
		}
		est := &flat{wait: make([]time.Duration, len(eu.Sites)), head: make([]float64, len(eu.Sites))}
		for i := range est.wait {
			est.wait[i] = time.Duration(rng.IntN(48)) * time.Hour
			est.head[i] = rng.Float64()
		}
		want, got := full.Decide(j, est), lean.DecideWinner(j, est)
		if want.Winner == "" {
			lost++
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("no winner: DecideWinner differs from Decide (-want +got):\n%s", diff)
			}
			continue
		}
		won++
		if got.Winner != want.Winner || len(got.Sites) != 1 {
			t.Fatalf("winner %q with %d verdicts, want %q alone", got.Winner, len(got.Sites), want.Winner)
		}
		if diff := cmp.Diff(want.Sites[0], got.Sites[0]); diff != "" {
			t.Fatalf("winner's verdict differs (-Decide +DecideWinner):\n%s", diff)
		}
	}
	if won < 500 || lost < 50 {
		t.Errorf("%d jobs won a site, %d none: both cases need checking", won, lost)
	}
}
