package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// PolicyResult is one policy's figures; it is what summary.json holds per
// policy. Times are in seconds of simulated time unless named wall_.
type PolicyResult struct {
	Policy     string `json:"policy"`
	EngineNote string `json:"engine_note,omitempty"` // a limit of the engine the figures reflect
	// Config is the configuration the policy ran (Scheduling.Record): the
	// engine's, the routing's and whether the broker was on.
	Config json.RawMessage `json:"config,omitempty"`

	Jobs        int `json:"jobs"` // submitted
	Started     int `json:"started"`
	Completed   int `json:"completed"`
	Failed      int `json:"failed"`    // lost in an outage and not requeueable
	TimedOut    int `json:"timed_out"` // ran past their walltime
	Unfinished  int `json:"unfinished"`
	LostRuns    int `json:"lost_runs"` // runs cut by an outage (requeued or failed)
	Preemptions int `json:"preemptions"`
	SkippedRows int `json:"skipped_rows"`

	SimulatedSpanS  float64 `json:"simulated_span_s"`
	WallSeconds     float64 `json:"wall_seconds"`
	Events          int64   `json:"events"` // engine.Apply calls
	Steps           int64   `json:"steps"`  // engine.Step calls
	EventsPerSecond float64 `json:"events_per_second"`

	Capacity          int                `json:"capacity_accelerators"`
	OfferedLoad       float64            `json:"offered_load"` // accelerator-seconds submitted / (capacity x span)
	Utilisation       float64            `json:"utilisation"`
	UtilisationBySite map[string]float64 `json:"utilisation_by_site"`
	Fragmentation     float64            `json:"fragmentation"` // time-mean share of free accelerators not on entirely free nodes

	Wait            Dist    `json:"wait_s"`
	JCT             Dist    `json:"jct_s"`
	BoundedSlowdown float64 `json:"bounded_slowdown"` // mean of max(1, JCT / max(run, 10 s))
	// JainTenants is Jain's fairness index over tenants, (Σx)²/(n·Σx²),
	// of x = 1 / the tenant's mean bounded slowdown (the pace its jobs
	// went at against running alone): 1 when every tenant's jobs were
	// slowed alike, 1/n when one tenant took all the delay away from the
	// others.
	JainTenants float64                 `json:"jain_tenants"`
	ByClass     map[string]*ClassResult `json:"by_class"`
	// Energy is the runs' energy, carbon and cost, by site and in total.
	Energy *EnergyResult `json:"energy"`

	series []SeriesRow
}

// ClassResult is the figures of one organisation class.
type ClassResult struct {
	Jobs            int     `json:"jobs"`
	Completed       int     `json:"completed"`
	Wait            Dist    `json:"wait_s"`
	JCT             Dist    `json:"jct_s"`
	BoundedSlowdown float64 `json:"bounded_slowdown"`
	// OfferedShare is the class's share of the accelerator-seconds
	// submitted; DeliveredShare its share of those run (over a whole run
	// that ends with every job done the two are equal).
	OfferedShare   float64 `json:"offered_share"`
	DeliveredShare float64 `json:"delivered_share"`
	// FairShareDeviation is, averaged over the samples taken while jobs
	// waited, the class's share of the accelerators held minus its share
	// of the accelerators wanted (held + waiting): negative means the
	// class was served less than its demand while the network was
	// contended.
	FairShareDeviation float64 `json:"fair_share_deviation"`
	// ShareDeviation is, averaged over the same samples, the class's
	// share of the accelerators held minus its entitlement: the
	// configured class shares (the engine's ClassShares, else
	// engine.DefaultConfig's) water-filled over what each class holds or
	// waits for (a class that asks for less than its share is entitled to
	// what it asks; the rest goes to the others by their shares), as a
	// share of the accelerators held. Classes the engine counts as one
	// (startups with SMEs: sched.ClassOf) share one entitlement, split
	// between them by their demand. 0 = served exactly its fair share.
	ShareDeviation float64 `json:"share_deviation"`

	offered, delivered float64
	held, waiting      float64 // accelerators now
	devSum             float64
	devN               int
	shareSum           float64
	waits, jcts        samples
	bsld               float64
}

// Dist is a distribution's mean and quantiles.
type Dist struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
}

// SeriesRow is one line of timeseries.csv: a site's state at a time.
type SeriesRow struct {
	T           time.Duration
	Site        string // "" = the whole network
	Utilisation float64
	Running     int
	Queued      int // jobs waiting (network rows only)
}

type stats struct {
	res       *PolicyResult
	sites     []core.Site
	capacity  []float64 // accelerators per site
	used      []float64 // accelerators held now, per site
	running   []int
	usedInt   []float64 // accelerator-seconds per site
	last      time.Duration
	events    int64
	steps     int64
	lost      int
	preempted int
	offered   float64
	fragSum   float64
	fragN     int
	all       ClassResult // network-wide sums (no samples: see finish)
	endedN    int
	// tenants: each tenant's figures, for JainTenants.
	tenants map[string]*tenantStats
	shares  map[string]float64 // configured class shares, for ShareDeviation
}

// tenantStats is one tenant's sum of bounded slowdowns over its ended
// jobs, and its class's figures: a run keeps it (running.cls), and its end
// (endEntry.cls), so that neither looks a name up.
type tenantStats struct {
	class *ClassResult
	bsld  float64
	n     int
}

func newStats(sites []core.Site, policy string, shares map[string]float64) *stats {
	st := &stats{
		shares:   shares,
		res:      &PolicyResult{Policy: policy, UtilisationBySite: map[string]float64{}, ByClass: map[string]*ClassResult{}},
		sites:    sites,
		capacity: make([]float64, len(sites)),
		used:     make([]float64, len(sites)),
		running:  make([]int, len(sites)),
		usedInt:  make([]float64, len(sites)),
		tenants:  map[string]*tenantStats{},
	}
	for i, s := range sites {
		st.capacity[i] = float64(s.Totals())
		st.res.Capacity += s.Totals()
	}
	return st
}

func (st *stats) class(c string) *ClassResult {
	r, ok := st.res.ByClass[c]
	if !ok {
		r = &ClassResult{}
		st.res.ByClass[c] = r
	}
	return r
}

// advance integrates the accelerators held up to t.
func (st *stats) advance(t time.Duration) {
	if t <= st.last {
		return
	}
	dt := (t - st.last).Seconds()
	for i, u := range st.used {
		st.usedInt[i] += u * dt
	}
	st.last = t
}

// submitted counts an arrival and returns its tenant's figures, which the
// run keeps (running.cls) so that later events need no lookup by name.
func (st *stats) submitted(a Arrival) *tenantStats {
	st.res.Jobs++
	t := st.tenants[a.Tenant]
	if t == nil {
		t = st.tenant(a)
	}
	c := t.class
	c.Jobs++
	as := float64(a.Milli) / 1000 * a.Duration.Seconds()
	c.offered += as
	st.offered += as
	c.waiting += float64(a.Milli) / 1000
	return t
}

// tenant returns a's tenant's figures, made on its first arrival. A
// tenant whose arrivals name another class (not one of the traces: a
// tenant has one class) is counted under its first.
func (st *stats) tenant(a Arrival) *tenantStats {
	t := st.tenants[a.Tenant]
	if t == nil {
		t = &tenantStats{class: st.class(a.Class)}
		st.tenants[a.Tenant] = t
	}
	return t
}

// requeued puts a job's demand back in the queue.
func (st *stats) requeued(r *running) { r.cls.class.waiting += float64(r.arr.Milli) / 1000 }

func (st *stats) started(r *running, now time.Duration) {
	st.res.Started++
	c := r.cls.class
	c.waiting -= float64(r.arr.Milli) / 1000
	c.held += float64(r.arr.Milli) / 1000
	st.used[r.site] += float64(r.arr.Milli) / 1000
	st.running[r.site]++
}

// released returns the accelerators of the run e (ended or lost).
func (st *stats) released(e *endEntry, now time.Duration) {
	st.used[e.site] -= float64(e.milli) / 1000
	if st.used[e.site] < 1e-9 {
		st.used[e.site] = 0
	}
	st.running[e.site]--
	c := e.cls.class
	c.held -= float64(e.milli) / 1000
	c.delivered += float64(e.milli) / 1000 * (now - e.start).Seconds()
}

// warm reads the histogram counts that ended(e, now, ...) will change,
// and returns what it read: Replay warms a time's ends all at once.
func (st *stats) warm(e *endEntry, now time.Duration) uint64 {
	c := e.cls.class
	return c.waits.warm((e.start - e.submit).Seconds()) + c.jcts.warm((now - e.submit).Seconds())
}

// ended records the final state of the job whose run e ended and, when w
// is not nil, writes its jobs.csv row (from r, the job's record).
func (st *stats) ended(e *endEntry, now time.Duration, state core.State, w io.Writer, r *running) {
	c := e.cls.class
	switch state {
	case core.StateCompleted:
		st.res.Completed++
		c.Completed++
	case core.StateTimeout:
		st.res.TimedOut++
		c.Completed++
	default:
		st.res.Failed++
	}
	// A job that was preempted and resumed (sim.PhillyCheckpointable) ran
	// r.done before its last start: its wait is the time it made no
	// progress (queued, requeued, checkpointing), its run all it ran.
	var done time.Duration
	if r != nil {
		done = r.done
	}
	ran := now - e.start + done
	jct := (now - e.submit).Seconds()
	wait := (e.start - e.submit - done).Seconds()
	run := max(ran.Seconds(), 10)
	bsld := max(1, jct/run)
	e.cls.bsld += bsld
	e.cls.n++
	// The samples are kept once, per class; the network's distribution is
	// their union, gathered in finish (dist sorts, so order is moot).
	c.waits.add(wait)
	c.jcts.add(jct)
	c.bsld += bsld
	st.all.bsld += bsld
	st.endedN++
	if w != nil {
		site := st.sites[e.site]
		b := make([]byte, 0, 96)
		b = strconv.AppendInt(b, int64(e.id), 10)
		b = append(b, ',')
		b = append(b, r.arr.Tenant...)
		b = append(b, ',')
		b = append(b, r.arr.Class...)
		b = append(b, ',')
		b = strconv.AppendFloat(b, e.submit.Seconds(), 'f', -1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, e.start.Seconds(), 'f', -1, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, now.Seconds(), 'f', -1, 64)
		b = append(b, ',')
		b = append(b, site.ID...)
		b = append(b, ',')
		b = append(b, site.Country...)
		b = append(b, ',')
		b = append(b, e.milli.String()...)
		b = append(b, ',')
		if strings.Contains(r.pool, ",") {
			b = strconv.AppendQuote(b, r.pool) // a gang across pools: "a,b"
		} else {
			b = append(b, r.pool...)
		}
		b = append(b, '\n')
		w.Write(b)
	}
}

// JobsHeader is the first line of jobs.csv.
const JobsHeader = "id,tenant,class,submit_s,start_s,end_s,site,country,accelerators,pool\n"

// sample records the time series at t and the cluster's fragmentation.
func (st *stats) sample(t time.Duration, eng scheduler, queued int) {
	var used, capTot float64
	run := 0
	for i, s := range st.sites {
		u := 0.0
		if st.capacity[i] > 0 {
			u = st.used[i] / st.capacity[i]
		}
		st.res.series = append(st.res.series, SeriesRow{T: t, Site: s.ID, Utilisation: u, Running: st.running[i]})
		used += st.used[i]
		capTot += st.capacity[i]
		run += st.running[i]
	}
	u := 0.0
	if capTot > 0 {
		u = used / capTot
	}
	st.res.series = append(st.res.series, SeriesRow{T: t, Utilisation: u, Running: run, Queued: queued})
	var held, wanted float64
	for _, c := range st.res.ByClass {
		held += c.held
		wanted += c.held + c.waiting
	}
	if held > 0 && wanted > held+1e-9 {
		ent := st.entitlements(held)
		for name, c := range st.res.ByClass {
			if c.held+c.waiting > 0 {
				c.devSum += c.held/held - (c.held+c.waiting)/wanted
				c.shareSum += (c.held - ent[name]) / held
				c.devN++
			}
		}
	}
	var free, wholeFree int
	for _, p := range eng.Cluster().Pools {
		free += p.Free()
		wholeFree += p.WholeNodes() * p.K
	}
	if free > 0 {
		st.fragSum += 1 - float64(wholeFree)/float64(free)
		st.fragN++
	}
}

// finish turns the accumulators into the result's figures.
func (st *stats) finish(end time.Duration) {
	r := st.res
	r.SimulatedSpanS = end.Seconds()
	r.Events, r.Steps = st.events, st.steps
	r.LostRuns, r.Preemptions = st.lost, st.preempted
	var usedAll, capAll float64
	for i, s := range st.sites {
		den := st.capacity[i] * end.Seconds()
		if den > 0 {
			r.UtilisationBySite[s.ID] = round6(st.usedInt[i] / den)
		}
		usedAll += st.usedInt[i]
		capAll += den
	}
	if capAll > 0 {
		r.Utilisation = round6(usedAll / capAll)
		r.OfferedLoad = round6(st.offered / capAll)
	}
	if st.fragN > 0 {
		r.Fragmentation = round6(st.fragSum / float64(st.fragN))
	}
	r.Energy = energy(st.sites, st.usedInt)
	// The network's distribution is the classes' union, taken in name
	// order so that the sums add up the same way every run.
	var waits, jcts samples
	for _, name := range sortedClasses(r.ByClass) {
		waits.merge(&r.ByClass[name].waits)
		jcts.merge(&r.ByClass[name].jcts)
	}
	r.Wait, r.JCT = waits.dist(), jcts.dist()
	if n := st.endedN; n > 0 {
		r.BoundedSlowdown = round6(st.all.bsld / float64(n))
	}
	r.JainTenants = round6(jainTenants(st.tenants))
	var delivered float64
	for _, c := range r.ByClass {
		delivered += c.delivered
	}
	for _, c := range r.ByClass {
		c.Wait, c.JCT = c.waits.dist(), c.jcts.dist()
		if n := c.waits.n; n > 0 {
			c.BoundedSlowdown = round6(c.bsld / float64(n))
		}
		if st.offered > 0 {
			c.OfferedShare = round6(c.offered / st.offered)
		}
		if delivered > 0 {
			c.DeliveredShare = round6(c.delivered / delivered)
		}
		if c.devN > 0 {
			c.FairShareDeviation = round6(c.devSum / float64(c.devN))
			c.ShareDeviation = round6(c.shareSum / float64(c.devN))
		}
		c.waits, c.jcts = samples{}, samples{}
	}
}

// jainTenants is Jain's index of 1 / each tenant's mean bounded slowdown,
// summed in tenant order (stable bytes in summary.json).
func jainTenants(ts map[string]*tenantStats) float64 {
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	slices.Sort(names)
	var xs []float64
	for _, k := range names {
		if t := ts[k]; t.n > 0 {
			xs = append(xs, float64(t.n)/t.bsld)
		}
	}
	return Jain(xs)
}

// Jain is Jain's fairness index of xs, (Σx)²/(n·Σx²): 1 when all are
// equal, 1/n when one holds everything; 0 for none.
func Jain(xs []float64) float64 {
	var s, s2 float64
	for _, x := range xs {
		s += x
		s2 += x * x
	}
	if s2 == 0 {
		return 0
	}
	return s * s / (float64(len(xs)) * s2)
}

func sortedClasses(m map[string]*ClassResult) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// quantile is the nearest-rank p-quantile of sorted xs.
func quantile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[max(i, 0)]
}

// round6 keeps six significant decimals so summaries print stably.
func round6(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	v, _ := strconv.ParseFloat(fmt.Sprintf("%.6g", x), 64)
	return v
}

// entitlements water-fills held accelerators over the engine's classes
// by their configured shares, capped by each class's demand (held +
// waiting), and splits a class's entitlement between the report classes
// it counts together by their demand. Keyed by report class.
func (st *stats) entitlements(held float64) map[string]float64 {
	demand := map[string]float64{} // by engine class
	for name, c := range st.res.ByClass {
		demand[sched.ClassOf(name)] += c.held + c.waiting
	}
	ent := map[string]float64{}
	left := held
	open := map[string]bool{}
	for g, d := range demand {
		if d > 0 {
			open[g] = true
		}
	}
	for len(open) > 0 && left > 1e-9 {
		var w float64
		for g := range open {
			w += st.share(g)
		}
		if w <= 0 {
			break
		}
		lambda := left / w
		capped := false
		for _, g := range slices.Sorted(maps.Keys(open)) {
			if d := demand[g] - ent[g]; d <= lambda*st.share(g) {
				ent[g] += d
				left -= d
				delete(open, g)
				capped = true
			}
		}
		if !capped {
			for g := range open {
				ent[g] += lambda * st.share(g)
			}
			break
		}
	}
	out := make(map[string]float64, len(st.res.ByClass))
	for name, c := range st.res.ByClass {
		g := sched.ClassOf(name)
		if d := demand[g]; d > 0 {
			out[name] = ent[g] * (c.held + c.waiting) / d
		}
	}
	return out
}

// share is engine class g's configured share (1 when none is set).
func (st *stats) share(g string) float64 {
	if v, ok := st.shares[g]; ok && v >= 0 {
		return v
	}
	return 1
}
