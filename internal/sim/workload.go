package sim

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
	"github.com/gigafactory/gigafactory/internal/trace"
)

// Arrival is one job of the replay's input, in arrival order.
type Arrival struct {
	Submit      time.Duration // from the start of the simulation
	Duration    time.Duration
	Milli       core.Milli
	Tenant      string
	Class       string // organisation kind (core.OrgResearch...)
	Model       string
	Walltime    time.Duration
	Residency   []string
	Preemptible bool
	// Checkpointable jobs keep their work when preempted (PhillyCheckpointable).
	Checkpointable bool
	Moonshot       bool
}

// Stream is a source of arrivals in submit order; Next returns io.EOF at
// the end.
type Stream interface {
	Next() (Arrival, error)
}

// Classes maps tenants to organisation classes: a tenant with no class of
// its own gets one from a stable hash of its name, in these shares.
type Classes []ClassShare

// ClassShare is one organisation class and the share of tenants in it.
type ClassShare struct {
	Class string
	Share float64
}

// DefaultClasses is the assumed make-up of the EU network's users: mostly
// research, then industry, startups, SMEs and public bodies. An assumption
// for the twin, stated in the summary; change it with --classes.
var DefaultClasses = Classes{
	{core.OrgResearch, 0.40}, {core.OrgIndustry, 0.20}, {core.OrgStartup, 0.20},
	{core.OrgSME, 0.15}, {core.OrgPublic, 0.05},
}

// ParseClasses reads "research=0.4,startup=0.2,...".
func ParseClasses(s string) (Classes, error) {
	var cs Classes
	var sum float64
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !core.ValidOrgKind(k) {
			return nil, fmt.Errorf("classes: want KIND=SHARE with KIND one of research, sme, startup, industry, public; got %q", part)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("classes: bad share %q", part)
		}
		cs = append(cs, ClassShare{k, f})
		sum += f
	}
	if sum <= 0 {
		return nil, fmt.Errorf("classes: shares sum to 0")
	}
	for i := range cs {
		cs[i].Share /= sum
	}
	return cs, nil
}

// Of returns the class of a tenant: a stable function of its name.
func (cs Classes) Of(tenant string) string {
	if len(cs) == 0 {
		return core.OrgResearch
	}
	h := fnv.New64a()
	h.Write([]byte(tenant))
	u := float64(h.Sum64()>>11) / (1 << 53)
	for _, c := range cs {
		if u < c.Share {
			return c.Class
		}
		u -= c.Share
	}
	return cs[len(cs)-1].Class
}

// LoadTrace reads a whole trace into arrivals sorted by submit time (the
// Philly table is not in submit order), times shifted so the first job
// arrives at 0. The arrival record is compact (about 100 bytes), so the
// 82,247 Philly jobs take under 10 MB.
func LoadTrace(src trace.Reader, classes Classes) ([]Arrival, error) {
	var out []Arrival
	for {
		j, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		class := j.OrgKind
		if class == "" {
			class = classes.Of(j.Tenant)
		}
		out = append(out, Arrival{
			Submit: j.Submit, Duration: j.Duration, Milli: j.Accelerators, Tenant: j.Tenant,
			Class: class, Model: j.Model, Walltime: j.Walltime, Residency: j.Residency, Preemptible: j.Preemptible,
		})
	}
	slices.SortStableFunc(out, func(a, b Arrival) int { return cmp.Compare(a.Submit, b.Submit) })
	if len(out) > 0 {
		t0 := out[0].Submit
		for i := range out {
			out[i].Submit -= t0
		}
	}
	return out, nil
}

// SliceStream streams a slice of arrivals.
type SliceStream struct {
	jobs []Arrival
	i    int
}

// NewSliceStream streams jobs, which must be in submit order.
func NewSliceStream(jobs []Arrival) *SliceStream { return &SliceStream{jobs: jobs} }

// Next returns the next arrival.
func (s *SliceStream) Next() (Arrival, error) {
	if s.i >= len(s.jobs) {
		return Arrival{}, io.EOF
	}
	s.i++
	return s.jobs[s.i-1], nil
}

// SynthConfig scales a trace's job mix to a bigger network: jobs are drawn
// with replacement from the base trace (size, duration, tenant), arriving
// as a Poisson process at Multiplier times the base trace's mean rate, plus
// a seeded stream of moonshot jobs.
type SynthConfig struct {
	Base       []Arrival     // the mix to draw from, e.g. Philly
	Multiplier float64       // arrival rate relative to the base trace's
	Span       time.Duration // stop generating after this much virtual time
	Seed       uint64
	// Tenants: each base tenant is split into this many tenants (the
	// network has more users than one Philly cluster); 0 =
	// ceil(Multiplier), at most MaxTenantCopies.
	TenantCopies int
	Classes      Classes
	// Moonshots per simulated day (Poisson), sized log-uniformly in
	// [MoonMin, MoonMax] accelerators (rounded to whole 8-accelerator
	// nodes), lasting uniformly MoonDays[0]..MoonDays[1] days.
	MoonshotsPerDay  float64
	MoonMin, MoonMax int
	MoonDays         [2]float64
	// MaxJobs bounds the stream (0 = no bound).
	MaxJobs int
}

// MaxTenantCopies bounds the default tenant split: Philly's 15 virtual
// clusters become at most 960 tenants, about the number of projects a
// network of a few dozen sites serves.
const MaxTenantCopies = 64

// Synth is the stream SynthConfig describes. It holds only the base mix and
// the next arrival of each kind, so 10 million jobs cost no more memory
// than ten.
type Synth struct {
	cfg      SynthConfig
	rng      *rand.Rand
	rate     float64 // base jobs per second
	nextBase time.Duration
	nextMoon time.Duration
	n        int
	moonN    int
	// buf holds the arrivals made ahead (fill), out the next to return;
	// draws, the random choices of the base ones among them; eof, that
	// the stream ended after buf.
	buf     []Arrival
	out     int
	draws   []synthDraw
	eof     bool
	sink    uint32   // what fill's read-ahead loaded, so that it is kept
	tenants []string // base tenant names, by first appearance in Base
	classOf map[string]string
	// copies holds each base tenant's copies (name and class, made on
	// first use), so that drawing one costs no string building nor
	// hashing per job.
	copies [][]tenantCopy
	// lite is Base in 12 bytes a job instead of 112: the tenant's index
	// in copies and, for the jobs with nothing but a duration in whole
	// seconds, a size and a tenant (all of Philly's), those. A random
	// draw from 82,000 jobs then reads one entry of a table that stays
	// in cache (it missed, 200 ns a job, on the EU network's month).
	lite []liteJob
}

type liteJob struct {
	durS   uint32
	milli  uint32
	tenant uint32 // index in copies; the top bit (litePlain) marks a plain job
}

// litePlain marks a job whose Arrival is its duration, size and tenant.
const litePlain = 1 << 31

type tenantCopy struct{ name, class string }

// NewSynth starts a synthetic stream.
func NewSynth(cfg SynthConfig) (*Synth, error) {
	if len(cfg.Base) < 2 {
		return nil, fmt.Errorf("synth: need a base trace with at least two jobs")
	}
	if cfg.Multiplier <= 0 {
		return nil, fmt.Errorf("synth: arrival-rate multiplier must be positive")
	}
	span := cfg.Base[len(cfg.Base)-1].Submit - cfg.Base[0].Submit
	if span <= 0 {
		return nil, fmt.Errorf("synth: base trace spans no time")
	}
	if cfg.TenantCopies <= 0 {
		cfg.TenantCopies = min(int(math.Ceil(cfg.Multiplier)), MaxTenantCopies)
	}
	if cfg.MoonMin <= 0 {
		cfg.MoonMin = 4096
	}
	if cfg.MoonMax < cfg.MoonMin {
		cfg.MoonMax = 65536
	}
	if cfg.MoonDays[1] <= 0 {
		cfg.MoonDays = [2]float64{1, 7}
	}
	s := &Synth{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		rate:    cfg.Multiplier * float64(len(cfg.Base)) / span.Seconds(),
		classOf: map[string]string{},
	}
	if cfg.TenantCopies > 1 {
		idx := map[string]uint32{}
		s.lite = make([]liteJob, len(cfg.Base))
		for i := range cfg.Base {
			b := &cfg.Base[i]
			k, ok := idx[b.Tenant]
			if !ok {
				k = uint32(len(s.copies))
				idx[b.Tenant] = k
				s.copies = append(s.copies, make([]tenantCopy, cfg.TenantCopies))
			}
			l := liteJob{tenant: k}
			if b.Model == "" && b.Walltime == 0 && b.Residency == nil && !b.Preemptible && !b.Moonshot &&
				b.Duration >= 0 && b.Duration%time.Second == 0 && b.Duration/time.Second <= math.MaxUint32 &&
				b.Milli >= 0 && b.Milli <= math.MaxUint32 {
				l.durS, l.milli, l.tenant = uint32(b.Duration/time.Second), uint32(b.Milli), k|litePlain
			}
			s.lite[i] = l
		}
	}
	s.nextBase = s.exp(s.rate)
	s.nextMoon = -1
	if cfg.MoonshotsPerDay > 0 {
		s.nextMoon = s.exp(cfg.MoonshotsPerDay / 86400)
	}
	return s, nil
}

func (s *Synth) exp(rate float64) time.Duration {
	return time.Duration(s.rng.ExpFloat64() / rate * float64(time.Second)).Round(time.Millisecond)
}

// Next returns the next arrival, or io.EOF past Span or MaxJobs.
//
// Arrivals are made synthBatch at a time: first every random choice, in
// the order a one-by-one stream makes them (so the stream is the same),
// then the base jobs drawn are read, then the arrivals built. The reads,
// at random places in the base mix, then overlap instead of each waiting
// for the last.
func (s *Synth) Next() (Arrival, error) {
	if s.out >= len(s.buf) {
		if s.eof {
			return Arrival{}, io.EOF
		}
		s.fill()
		if len(s.buf) == 0 {
			return Arrival{}, io.EOF
		}
	}
	a := s.buf[s.out]
	s.buf[s.out] = Arrival{}
	s.out++
	return a, nil
}

// synthBatch is how many arrivals Synth makes at a time.
const synthBatch = 64

// synthDraw is a base arrival's random choices: when, which base job, which
// copy of its tenant.
type synthDraw struct {
	at   time.Duration
	i, k int
	slot int // index in buf
}

// fill makes the next batch of arrivals into buf.
func (s *Synth) fill() {
	s.buf, s.out, s.draws = s.buf[:0], 0, s.draws[:0]
	for len(s.buf) < synthBatch {
		if s.cfg.MaxJobs > 0 && s.n >= s.cfg.MaxJobs {
			s.eof = true
			break
		}
		moon := s.nextMoon >= 0 && s.nextMoon < s.nextBase
		at := s.nextBase
		if moon {
			at = s.nextMoon
		}
		if s.cfg.Span > 0 && at > s.cfg.Span {
			s.eof = true
			break
		}
		s.n++
		if moon {
			s.buf = append(s.buf, s.moonshot(at))
			continue
		}
		s.nextBase += s.exp(s.rate)
		d := synthDraw{at: at, i: s.rng.IntN(len(s.cfg.Base)), slot: len(s.buf)}
		if s.cfg.TenantCopies > 1 {
			d.k = s.rng.IntN(s.cfg.TenantCopies)
		}
		s.draws = append(s.draws, d)
		s.buf = append(s.buf, Arrival{})
	}
	if s.cfg.TenantCopies <= 1 {
		for _, d := range s.draws {
			a := s.cfg.Base[d.i]
			a.Submit = d.at
			s.buf[d.slot] = a
		}
		return
	}
	// The reads, all issued before any is used.
	for _, d := range s.draws {
		s.sink += s.lite[d.i].tenant
	}
	for _, d := range s.draws {
		var a Arrival
		l := s.lite[d.i]
		if l.tenant&litePlain != 0 {
			a = Arrival{Duration: time.Duration(l.durS) * time.Second, Milli: core.Milli(l.milli)}
		} else {
			a = s.cfg.Base[d.i]
		}
		a.Submit = d.at
		cs := s.copies[l.tenant&^litePlain]
		if cs[d.k].name == "" {
			name := s.cfg.Base[d.i].Tenant + "-" + strconv.Itoa(d.k)
			cs[d.k] = tenantCopy{name, s.class(name)}
		}
		a.Tenant, a.Class = cs[d.k].name, cs[d.k].class
		s.buf[d.slot] = a
	}
}

// moonshot makes the moonshot arriving at at.
func (s *Synth) moonshot(at time.Duration) Arrival {
	s.nextMoon += s.exp(s.cfg.MoonshotsPerDay / 86400)
	s.moonN++
	lo, hi := math.Log(float64(s.cfg.MoonMin)), math.Log(float64(s.cfg.MoonMax))
	n := int(math.Exp(lo+s.rng.Float64()*(hi-lo))) / 8 * 8
	days := s.cfg.MoonDays[0] + s.rng.Float64()*(s.cfg.MoonDays[1]-s.cfg.MoonDays[0])
	tenant := fmt.Sprintf("moonshot-%d", s.moonN%8)
	return Arrival{
		Submit: at, Duration: time.Duration(days * 24 * float64(time.Hour)).Round(time.Second),
		Milli: core.Milli(max(n, s.cfg.MoonMin) * 1000), Tenant: tenant,
		Class: s.cfg.Classes.Of(tenant), Moonshot: true, Preemptible: false,
	}
}

func (s *Synth) class(tenant string) string {
	c, ok := s.classOf[tenant]
	if !ok {
		c = s.cfg.Classes.Of(tenant)
		s.classOf[tenant] = c
	}
	return c
}

// MixStats describes a job mix for calibration: jobs, mean accelerators
// per job, mean and median duration, and accelerator-seconds.
type MixStats struct {
	Jobs            int     `json:"jobs"`
	MeanAccel       float64 `json:"mean_accelerators"`
	MeanDurationS   float64 `json:"mean_duration_s"`
	MedianDurationS float64 `json:"median_duration_s"`
	AccelSeconds    float64 `json:"accelerator_seconds"`
}

// StatsOf summarises arrivals.
func StatsOf(jobs []Arrival) MixStats {
	s := MixStats{Jobs: len(jobs)}
	if len(jobs) == 0 {
		return s
	}
	durs := make([]float64, len(jobs))
	for i, j := range jobs {
		a := float64(j.Milli) / 1000
		d := j.Duration.Seconds()
		s.MeanAccel += a
		s.MeanDurationS += d
		s.AccelSeconds += a * d
		durs[i] = d
	}
	s.MeanAccel /= float64(len(jobs))
	s.MeanDurationS /= float64(len(jobs))
	slices.Sort(durs)
	s.MedianDurationS = quantile(durs, 0.5)
	return s
}

// MultiplierFor is the arrival-rate multiplier at which base's mix offers
// load (0.9 = 90%) of capacity accelerators, before moonshots.
func MultiplierFor(base []Arrival, capacity int, load float64) float64 {
	st := StatsOf(base)
	span := (base[len(base)-1].Submit - base[0].Submit).Seconds()
	if span <= 0 || st.AccelSeconds <= 0 {
		return 1
	}
	baseLoad := st.AccelSeconds / span // accelerators busy on average
	return load * float64(capacity) / baseLoad
}

// TenantClasses lists every tenant the stream can produce with its class,
// for the engine's fair share (which must know a tenant's class before its
// first job).
func (s *Synth) TenantClasses() map[string]string {
	m := map[string]string{}
	seen := map[string]bool{}
	for _, b := range s.cfg.Base {
		if seen[b.Tenant] {
			continue
		}
		seen[b.Tenant] = true
		if s.cfg.TenantCopies > 1 {
			for k := 0; k < s.cfg.TenantCopies; k++ {
				t := b.Tenant + "-" + strconv.Itoa(k)
				m[t] = s.cfg.Classes.Of(t)
			}
		} else {
			m[b.Tenant] = b.Class
		}
	}
	for k := 0; k < 8; k++ {
		t := fmt.Sprintf("moonshot-%d", k)
		m[t] = s.cfg.Classes.Of(t)
	}
	return m
}

// MixOfArrivals is the request mix of the one-node jobs among arrivals
// (at most perNode accelerators), for fragmentation-aware placement.
func MixOfArrivals(jobs []Arrival, perNode int) sched.RequestMix {
	var reqs []sched.NodeRequest
	for _, a := range jobs {
		switch {
		case a.Milli <= 0:
		case a.Milli < 1000:
			reqs = append(reqs, sched.NodeRequest{Devices: 1, PerDevice: a.Milli, Model: a.Model})
		case a.Milli%1000 == 0 && int(a.Milli/1000) <= perNode:
			reqs = append(reqs, sched.NodeRequest{Devices: int(a.Milli / 1000), PerDevice: 1000, Model: a.Model})
		}
	}
	return sched.MixOf(reqs, sched.GigafactoryMix)
}
