// Package aiact is the AI Act compute ledger (issue 15, item 3): how much
// training compute each model has had, by the methods the Commission's
// guidelines accept, and when a model crossed, or became known to cross,
// a threshold of Regulation (EU) 2024/1689. It is pure: contributions come
// in as values (what a job plans or used), Evaluate replays them and
// answers the models and the notifications; the store keeps both and the
// API shows them. See README.md for the facts and their sources.
package aiact

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Thresholds and defaults, from the Regulation and the Commission's
// guidelines C(2025) 5045 (README.md, "Facts").
const (
	// GPAIThreshold is the indicative criterion of a general-purpose AI
	// model: training compute above 10^23 FLOP (guidelines para 17).
	GPAIThreshold = 1e23
	// SystemicThreshold presumes high-impact capabilities: cumulative
	// training compute above 10^25 FLOP (Art. 51(2)).
	SystemicThreshold = 1e25
	// DefaultUtilisation is the average utilisation the hardware method
	// assumes when the operator configures none.
	DefaultUtilisation = 0.4
)

// Method is how an estimate was made (guidelines Annex A).
type Method string

// The estimation methods.
const (
	// Hardware is C = N x L x H x U: chips x duration x peak FLOP/s at
	// the precision used x utilisation (para 126).
	Hardware Method = "hardware"
	// Architecture is C = 6 x P x D for dense transformers (para 132).
	Architecture Method = "architecture"
)

// Kind says whether a contribution is a plan or what a run used.
type Kind string

// The kinds of contribution.
const (
	// Planned is a submitted job's compute if it runs its whole walltime.
	Planned Kind = "planned"
	// Actual is what one attempt of a job used.
	Actual Kind = "actual"
	// AwardPlan is what an award lets a project spend on the model: its
	// hours at their models' peaks (AwardContribution). The model's
	// projection is at least the sum of its awards' latest plans.
	AwardPlan Kind = "award"
)

// NotificationKind is what a notification says of a model.
type NotificationKind string

// The notifications the ledger raises, each at most once per model.
const (
	// CrossedGPAI: the model's compute is, or will be, above 10^23 FLOP.
	CrossedGPAI NotificationKind = "gpai"
	// CrossedSystemic: above 10^25 FLOP; Art. 52(1) asks the provider to
	// notify the Commission within two weeks of when this became known.
	CrossedSystemic NotificationKind = "systemic-risk"
	// NewModel: a fine-tune or modification used more than one third of
	// its base model's compute, so its maker is the provider of a new
	// model (guidelines paras 61-64).
	NewModel NotificationKind = "new-model"
)

// Job is the part of a job the ledger needs to make a contribution.
type Job struct {
	ID      core.JobID
	Attempt int
	Org     string
	Project string
	Lineage core.ModelLineage
	At      time.Time // submission (Planned) or end of the run (Actual)
	Final   bool      // Actual only: the job ended for good
	// Accelerators held, their model ("NVIDIA H100") and for how long.
	Accelerators float64
	AccelModel   string
	Duration     time.Duration
}

// Contribution is the compute one job (Planned) or one attempt of it
// (Actual) adds to one model, with how it was reckoned.
type Contribution struct {
	Model   string     `json:"model"`
	Org     string     `json:"org"`
	Project string     `json:"project"`
	Job     core.JobID `json:"job"`
	Attempt int        `json:"attempt"`
	Kind    Kind       `json:"kind"`
	// Award is the award an AwardPlan contribution stands for.
	Award   string            `json:"award,omitempty"`
	Final   bool              `json:"final,omitempty"`
	At      time.Time         `json:"at"`
	Lineage core.ModelLineage `json:"lineage"`

	Accelerators float64 `json:"accelerators"`
	AccelModel   string  `json:"accelerator_model,omitempty"`
	Hours        float64 `json:"hours"`
	PeakTFLOPS   float64 `json:"peak_tflops"`
	Precision    string  `json:"precision"`
	Utilisation  float64 `json:"utilisation"`
	TDPW         float64 `json:"tdp_w,omitempty"`

	// HardwareFLOP is N x L x H x U; ArchitectureFLOP is 6 x P x D, 0
	// when the lineage lacks parameters or tokens.
	HardwareFLOP     float64  `json:"hardware_flop"`
	ArchitectureFLOP float64  `json:"architecture_flop,omitempty"`
	Assumptions      []string `json:"assumptions,omitempty"`
}

// Peak is one accelerator's reference figures: peak dense throughput at
// BF16 and FP8 (0 where there is none or it is not public) and board
// power.
type Peak struct {
	Family     string // "H100", matched in accelerator model names
	Name       string
	BF16TFLOPS float64
	FP8TFLOPS  float64
	TDPW       float64
}

// Settings are what the operator may choose: the utilisation the hardware
// method assumes and the reference peaks.
type Settings struct {
	Utilisation float64 // 0 means DefaultUtilisation
	Peaks       []Peak
	// Assume is the accelerator model a plan assumes when the job does
	// not name one ("" means the first of Peaks whose family is H100).
	Assume string
}

func (s Settings) utilisation() float64 {
	if s.Utilisation > 0 {
		return s.Utilisation
	}
	return DefaultUtilisation
}

// peak finds the reference entry of an accelerator model by its family.
func (s Settings) peak(model string) (Peak, bool) {
	m := strings.ToUpper(model)
	best := Peak{}
	for _, p := range s.Peaks {
		// The longest family that matches wins: "GH200" over "H200".
		if p.Family != "" && strings.Contains(m, strings.ToUpper(p.Family)) && len(p.Family) > len(best.Family) {
			best = p
		}
	}
	return best, best.Family != ""
}

// HardwareFLOP is the hardware method: accelerators x hours x peak
// TFLOP/s x utilisation, in FLOP.
func HardwareFLOP(accelerators, hours, peakTFLOPS, utilisation float64) float64 {
	return accelerators * hours * 3600 * peakTFLOPS * 1e12 * utilisation
}

// ArchitectureFLOP is the architecture method for dense transformers:
// 6 x parameters x tokens.
func ArchitectureFLOP(parameters, tokens float64) float64 {
	return 6 * parameters * tokens
}

// Round2 rounds to two significant figures, as a notification states
// compute (guidelines para 32).
func Round2(flop float64) float64 {
	if flop == 0 || math.IsInf(flop, 0) || math.IsNaN(flop) {
		return flop
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(flop, 'e', 1, 64), 64)
	return v
}

// Format writes compute to two significant figures: "6.6e+23 FLOP".
func Format(flop float64) string {
	return strconv.FormatFloat(flop, 'e', 1, 64) + " FLOP"
}

// Contribute turns a job into its contribution to the model it declares:
// a plan (kind Planned: the whole walltime) or what a run used (Actual).
// The hardware estimate needs a peak for the accelerator model; a plan
// that names no model assumes the settings' (an H100 by default), the
// most capable of several named, and says so in Assumptions.
func Contribute(s Settings, kind Kind, j Job) Contribution {
	l := j.Lineage
	prec := strings.ToLower(l.Precision)
	if prec == "" {
		prec = "bf16"
	}
	c := Contribution{Model: l.Model, Org: j.Org, Project: j.Project, Job: j.ID, Attempt: j.Attempt, Kind: kind,
		Final: kind == Actual && j.Final, At: j.At.UTC(), Lineage: l, Accelerators: j.Accelerators,
		Hours: j.Duration.Hours(), Precision: prec, Utilisation: s.utilisation()}
	if kind == Planned {
		c.Attempt = 0
	}
	var p Peak
	found := false
	for _, m := range strings.Split(j.AccelModel, "|") {
		if q, ok := s.peak(m); ok && (!found || q.BF16TFLOPS > p.BF16TFLOPS) {
			p, found = q, true
		}
	}
	if !found {
		assume := s.Assume
		if assume == "" {
			assume = "H100"
		}
		p, found = s.peak(assume)
		if found {
			what := "no accelerator model given"
			if j.AccelModel != "" {
				what = fmt.Sprintf("no reference peak for %q", j.AccelModel)
			}
			c.Assumptions = append(c.Assumptions, fmt.Sprintf("%s: assumed %s", what, p.Name))
		}
	}
	if found {
		c.AccelModel, c.TDPW = p.Name, p.TDPW
		c.PeakTFLOPS = p.BF16TFLOPS
		switch {
		case prec == "fp8" && p.FP8TFLOPS > 0:
			c.PeakTFLOPS = p.FP8TFLOPS
		case prec != "bf16" && prec != "fp16":
			c.Assumptions = append(c.Assumptions, fmt.Sprintf("no %s peak for %s: counted at its BF16 dense peak", prec, p.Name))
		}
		c.HardwareFLOP = HardwareFLOP(c.Accelerators, c.Hours, c.PeakTFLOPS, c.Utilisation)
	} else {
		c.Assumptions = append(c.Assumptions, fmt.Sprintf("no reference peak for %q: hardware estimate left at 0", j.AccelModel))
	}
	c.Assumptions = append(c.Assumptions, fmt.Sprintf("utilisation %.0f%%", c.Utilisation*100))
	if l.Parameters > 0 && l.Tokens > 0 {
		c.ArchitectureFLOP = ArchitectureFLOP(l.Parameters, l.Tokens)
	}
	return c
}

// Estimate is one method's compute for a model, with what it rests on.
type Estimate struct {
	Method      Method       `json:"method"`
	FLOP        float64      `json:"flop"` // to two significant figures
	Exact       float64      `json:"-"`    // unrounded, for comparisons
	Text        string       `json:"text"` // "6.6e+23 FLOP"
	Assumptions []string     `json:"assumptions,omitempty"`
	Jobs        []core.JobID `json:"jobs"`
}

// Model is one model's ledger: compute used and projected, by method.
type Model struct {
	ID               string   `json:"id"`
	Org              string   `json:"org"`
	Projects         []string `json:"projects"`
	BaseModel        string   `json:"base_model,omitempty"`
	Purpose          string   `json:"purpose"`
	Parameters       float64  `json:"parameters,omitempty"`
	Tokens           float64  `json:"tokens,omitempty"`
	Precisions       []string `json:"precisions"`
	Accelerators     []string `json:"accelerator_models"`
	AcceleratorHours float64  `json:"accelerator_hours"`
	// TrainingHours sums the wall time of the runs.
	TrainingHours float64 `json:"training_hours"`
	// EnergyKWh is board energy, accelerator-hours x board power; the
	// site's PUE is not in it.
	EnergyKWh float64 `json:"energy_kwh"`
	// Hardware is what ended runs used; Projected adds what unfinished
	// jobs plan; Architecture is 6 x P x D over the jobs that declare both.
	Hardware     Estimate  `json:"hardware"`
	Projected    Estimate  `json:"projected"`
	Architecture *Estimate `json:"architecture,omitempty"`
	// BaseFLOP is the base model's compute the one-third rule compared
	// against, and BaseSource where it came from.
	BaseFLOP   float64   `json:"base_flop,omitempty"`
	BaseSource string    `json:"base_source,omitempty"`
	NewModel   bool      `json:"new_model,omitempty"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
}

// Key is a model's key in the ledger: ids are scoped per organisation.
func Key(org, model string) string { return org + "/" + model }

// Notification is one threshold a model crossed, dated when it became
// known: the submission of a job whose plan makes it certain (Projected),
// or the end of the run that crossed it.
type Notification struct {
	Model     string           `json:"model"`
	Org       string           `json:"org"`
	Kind      NotificationKind `json:"kind"`
	Threshold float64          `json:"threshold"`
	At        time.Time        `json:"at"`
	Job       core.JobID       `json:"job"`
	FLOP      float64          `json:"flop"` // to two significant figures
	Method    Method           `json:"method"`
	Projected bool             `json:"projected"`
	Message   string           `json:"message"`
}

// jobState is one job's part of a model during the replay.
type jobState struct {
	planned, actual, arch float64
	final                 bool
}

// modelState is a model during the replay.
type modelState struct {
	m                Model
	jobs             map[core.JobID]*jobState
	raised           map[NotificationKind]bool
	hwJobs, archJobs map[core.JobID]bool
	awards           map[string]float64 // award id → its latest plan's FLOP
	assumptions      []string
	// What the lineages declare of the base model.
	baseFLOP     float64
	baseSystemic bool
}

func (ms *modelState) totals() (actual, projected, arch float64) {
	for _, j := range ms.jobs {
		actual += j.actual
		if j.final {
			projected += j.actual
		} else {
			projected += max(j.planned, j.actual)
		}
		arch += j.arch
	}
	// The project's jobs spend its awards: what the awards allow bounds
	// the projection from below, not on top of the jobs.
	awarded := 0.0
	for _, f := range ms.awards {
		awarded += f
	}
	projected = max(projected, awarded)
	return
}

// Ledger is the outcome of Evaluate.
type Ledger struct {
	Models        []Model        // sorted by organisation and id
	Notifications []Notification // in the order they became known
}

// Evaluate replays contributions in the order they became known (time,
// then job, plan before run) and answers each model's estimates and every
// notification, each kind at most once per model, dated at the
// contribution that made it known. The same contributions always give the
// same answer, so a rebuilt ledger raises what it raised before, no more.
func Evaluate(cs []Contribution) Ledger {
	cs = slices.Clone(cs)
	slices.SortStableFunc(cs, func(a, b Contribution) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if a.Job != b.Job {
			return int(a.Job - b.Job)
		}
		if a.Kind != b.Kind {
			return strings.Compare(string(b.Kind), string(a.Kind)) // planned before actual
		}
		return a.Attempt - b.Attempt
	})
	models := map[string]*modelState{}
	var out []Notification
	for _, c := range cs {
		if c.Model == "" {
			continue
		}
		k := Key(c.Org, c.Model)
		ms := models[k]
		if ms == nil {
			ms = &modelState{m: Model{ID: c.Model, Org: c.Org, First: c.At}, jobs: map[core.JobID]*jobState{},
				raised: map[NotificationKind]bool{}, hwJobs: map[core.JobID]bool{}, archJobs: map[core.JobID]bool{}}
			models[k] = ms
		}
		ms.add(c)
		out = append(out, ms.check(c, models)...)
	}
	var l Ledger
	keys := make([]string, 0, len(models))
	for k := range models {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		l.Models = append(l.Models, models[k].finish())
	}
	l.Notifications = out
	return l
}

func (ms *modelState) add(c Contribution) {
	m := &ms.m
	l := c.Lineage
	if m.BaseModel == "" {
		m.BaseModel = l.BaseModel
	}
	if l.Purpose != "" && (m.Purpose == "" || m.Purpose == core.PurposePretraining) {
		m.Purpose = l.Purpose
	}
	m.Parameters = max(m.Parameters, l.Parameters)
	ms.baseFLOP = max(ms.baseFLOP, l.BaseFLOP)
	ms.baseSystemic = ms.baseSystemic || l.BaseSystemicRisk
	addOnce(&m.Projects, c.Project)
	if c.Kind == AwardPlan {
		if ms.awards == nil {
			ms.awards = map[string]float64{}
		}
		ms.awards[c.Award] = c.HardwareFLOP // contributions come in order: the latest plan wins
		for _, a := range c.Assumptions {
			addOnce(&ms.assumptions, a)
		}
		if c.At.After(m.Last) {
			m.Last = c.At
		}
		return
	}
	addOnce(&m.Precisions, c.Precision)
	if c.At.After(m.Last) {
		m.Last = c.At
	}
	j := ms.jobs[c.Job]
	if j == nil {
		j = &jobState{}
		ms.jobs[c.Job] = j
	}
	if c.ArchitectureFLOP > 0 && j.arch == 0 {
		j.arch = c.ArchitectureFLOP
		m.Tokens += l.Tokens
		ms.archJobs[c.Job] = true
	}
	switch c.Kind {
	case Planned:
		j.planned = c.HardwareFLOP
	case Actual:
		j.actual += c.HardwareFLOP
		j.final = j.final || c.Final
		if c.Hours > 0 {
			ms.hwJobs[c.Job] = true
			addOnce(&m.Accelerators, c.AccelModel)
			m.AcceleratorHours += c.Accelerators * c.Hours
			m.TrainingHours += c.Hours
			m.EnergyKWh += c.Accelerators * c.Hours * c.TDPW / 1000
		}
	}
	for _, a := range c.Assumptions {
		addOnce(&ms.assumptions, a)
	}
}

// check raises the notifications c makes known for its model.
func (ms *modelState) check(c Contribution, models map[string]*modelState) []Notification {
	actual, projected, arch := ms.totals()
	est, method := projected, Hardware
	if arch > est {
		est, method = arch, Architecture
	}
	var out []Notification
	raise := func(kind NotificationKind, threshold float64, msg string) {
		ms.raised[kind] = true
		n := Notification{Model: ms.m.ID, Org: ms.m.Org, Kind: kind, Threshold: threshold, At: c.At, Job: c.Job,
			FLOP: Round2(est), Method: method, Projected: method == Architecture || actual <= threshold}
		when := "used"
		if n.Projected {
			when = "will use"
		}
		by := fmt.Sprintf("job %d", c.Job)
		if c.Kind == AwardPlan {
			by = "award " + c.Award
		}
		n.Message = fmt.Sprintf("model %s %s %s by the %s method (%s): %s", ms.m.ID, when, Format(est), method, by, msg)
		out = append(out, n)
	}
	if !ms.raised[CrossedGPAI] && est > GPAIThreshold {
		raise(CrossedGPAI, GPAIThreshold, "above 1e23 FLOP, the indicative criterion of a general-purpose AI model (guidelines para 17)")
	}
	if !ms.raised[CrossedSystemic] && est > SystemicThreshold {
		raise(CrossedSystemic, SystemicThreshold, "above 1e25 FLOP, presumed systemic risk (Art. 51(2)); notify the Commission within two weeks (Art. 52(1))")
	}
	if p := ms.m.Purpose; (p == core.PurposeFinetune || p == core.PurposeModification) && ms.m.BaseModel != "" && !ms.raised[NewModel] {
		base, source := baseCompute(ms, models)
		ms.m.BaseFLOP, ms.m.BaseSource = base, source
		if est > base/3 {
			ms.m.NewModel = true
			raise(NewModel, base/3, fmt.Sprintf("more than one third of base model %s's %s (%s): its maker is the provider of a new model (guidelines paras 61-64)", ms.m.BaseModel, Format(base), source))
		}
	}
	return out
}

// baseCompute is the compute of ms's base model: the ledger's own figure
// (same organisation first, else the one organisation that has it), the
// figure the lineage declares, or the guidelines' fallback.
func baseCompute(ms *modelState, models map[string]*modelState) (float64, string) {
	b := models[Key(ms.m.Org, ms.m.BaseModel)]
	if b == nil {
		var found []*modelState
		for _, o := range models {
			if o.m.ID == ms.m.BaseModel {
				found = append(found, o)
			}
		}
		if len(found) == 1 {
			b = found[0]
		}
	}
	if b != nil {
		actual, _, arch := b.totals()
		if v := max(actual, arch); v > 0 {
			return v, "the ledger's estimate"
		}
	}
	switch {
	case ms.baseFLOP > 0:
		return ms.baseFLOP, "declared in the job's lineage"
	case ms.baseSystemic:
		return SystemicThreshold, "unknown; fallback for a base with systemic risk (guidelines para 63)"
	default:
		return GPAIThreshold, "unknown; fallback for a general-purpose base (guidelines para 63)"
	}
}

// finish rounds and fills the model's estimates.
func (ms *modelState) finish() Model {
	m := ms.m
	actual, projected, arch := ms.totals()
	jobsOf := func(set map[core.JobID]bool) []core.JobID {
		var ids []core.JobID
		for id := range set {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return ids
	}
	all := map[core.JobID]bool{}
	for id := range ms.jobs {
		all[id] = true
	}
	m.Hardware = Estimate{Method: Hardware, FLOP: Round2(actual), Exact: actual, Text: Format(actual), Assumptions: ms.assumptions, Jobs: jobsOf(ms.hwJobs)}
	m.Projected = Estimate{Method: Hardware, FLOP: Round2(projected), Exact: projected, Text: Format(projected), Assumptions: ms.assumptions, Jobs: jobsOf(all)}
	if arch > 0 {
		m.Architecture = &Estimate{Method: Architecture, FLOP: Round2(arch), Exact: arch, Text: Format(arch),
			Assumptions: []string{"6 x parameters x tokens, dense transformer (guidelines para 132)"}, Jobs: jobsOf(ms.archJobs)}
	}
	if m.Purpose == "" {
		m.Purpose = core.PurposePretraining
	}
	return m
}

func addOnce(list *[]string, v string) {
	if v != "" && !slices.Contains(*list, v) {
		*list = append(*list, v)
	}
}

// AwardContribution is what award a lets its project (of organisation
// org) spend on model l:
// each model's hours at that model's peak and the utilisation, summed
// (dated at). Its Attempt is a digest of the award's id, hours and
// validity, so that each version of an award (an extension) is recorded
// once and the latest one counts.
func AwardContribution(s Settings, org string, a core.Award, l core.ModelLineage, at time.Time) Contribution {
	c := Contribution{Model: l.Model, Org: org, Project: a.Project, Kind: AwardPlan, Award: a.ID, At: at.UTC(), Lineage: l,
		Utilisation: s.utilisation(), Precision: "bf16"}
	models := make([]string, 0, len(a.Hours))
	for m := range a.Hours {
		models = append(models, m)
	}
	slices.Sort(models)
	h := fnv.New32a()
	fmt.Fprintf(h, "%s|%d|%d", a.ID, a.ValidFrom.Unix(), a.ValidTo.Unix())
	for _, m := range models {
		// hours accelerators for one hour: a Duration of millions of hours
		// would overflow.
		one := Contribute(s, Planned, Job{Lineage: l, Accelerators: a.Hours[m], AccelModel: m, Duration: time.Hour})
		c.HardwareFLOP += one.HardwareFLOP
		c.Hours += a.Hours[m]
		for _, x := range one.Assumptions {
			addOnce(&c.Assumptions, x)
		}
		fmt.Fprintf(h, "|%s=%g", m, a.Hours[m])
	}
	c.Attempt = int(h.Sum32() & 0x7fffffff)
	c.Assumptions = append(c.Assumptions, fmt.Sprintf("award %s: %g accelerator-hours over its models", a.ID, c.Hours))
	return c
}
