package engine

import (
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// Config tunes the engine. The zero value is usable: FIFO order by id,
// greedy best fit (no reservations, no preemption, no quotas), 24 h
// assumed walltime. DefaultConfig is the recommended starting point.
type Config struct {
	// DefaultWalltime bounds jobs that give none, for backfill and
	// estimated starts. 0 = 24h.
	DefaultWalltime time.Duration
	// SiteWalltimes plans a job that gives no walltime with the default
	// walltime of the site it is routed, pinned or placed to
	// (core.Site.DefaultWalltime; DefaultWalltime where a site has none),
	// as the daemon has that site enforce it. Off (the digital twin, whose
	// trace jobs run as long as they ran), DefaultWalltime everywhere.
	SiteWalltimes bool
	// BackfillDepth is how many of the highest-priority blocked jobs get
	// a reservation (EASY backfill; like Slurm's bf_max_job_test bounding
	// the work per pass). Lower-priority jobs start only where they cannot
	// delay a reservation. 0 = no reservations: plain greedy order.
	BackfillDepth int
	// PriorityInterval is how often priorities, fair share and estimated
	// starts are recomputed (Slurm's PriorityCalcPeriod); between
	// recomputations the order is kept and new jobs are merged into it.
	// Reservations are recomputed at the same time. 0 = every Step.
	PriorityInterval time.Duration
	// Priority weighs the multifactor priority.
	Priority sched.PriorityConfig
	// FairShare configures the fair-share tree.
	FairShare sched.FairShareConfig
	// Preemption configures preemption; disabled when Enabled is false.
	Preemption Preemption
	// Quotas limits concurrent use and spending.
	Quotas Quotas
	// Fragmentation, when set, places one-node jobs with the digital
	// twin's fragmentation-aware policy (sched.FragAware, FGD) over a
	// bounded candidate set instead of plain best fit: the request mix
	// of the workload, e.g. from sched.MixOf over recent submissions.
	Fragmentation sched.RequestMix
	// FragmentationCandidates bounds the nodes scored per pool and free
	// count. 0 = 4.
	FragmentationCandidates int
}

// Preemption configures preempting running preemptible jobs of lower
// tiers for higher ones.
type Preemption struct {
	Enabled bool
	// MinRuntime protects a job from preemption until it has run this long.
	MinRuntime time.Duration
	// Grace is how long a checkpointable job has between Signal and stop.
	// 0 = 5 minutes.
	Grace time.Duration
	// Signal tells a checkpointable job to checkpoint. "" = "SIGUSR1".
	Signal string
	// Tiers ranks access modes (QoS); a job may preempt only preemptible
	// jobs of strictly lower tier. nil = DefaultTiers.
	Tiers map[string]int
	// Attained lets a job preempt, within its tier, a running job of a
	// later attained-service queue (Tiresias: Priority.LAS), when that job
	// is preemptible or checkpointable, has run MinRuntime, and its org
	// class stands no further below its share than the job's (fair share
	// between classes is never undone by it). The victim waits again
	// with its attained service kept. Needs Priority.AttainedWeight.
	Attained bool
}

// DefaultTiers: playground < normal < large-scale < fast-lane, moonshot.
var DefaultTiers = map[string]int{
	core.QoSPlayground: 0,
	"":                 1,
	core.QoSNormal:     1,
	core.QoSLargeScale: 2,
	core.QoSFastLane:   3,
	core.QoSMoonshot:   3,
}

// Quotas are limits a job must respect to start. Missing entries mean no
// limit.
type Quotas struct {
	// ProjectAccelerators caps the accelerators a project (by name) holds
	// at once.
	ProjectAccelerators map[string]int
	// ClassAccelerators caps the accelerators an org class (research,
	// sme, industry, public) holds at once.
	ClassAccelerators map[string]int
	// ProjectBudgetHours is a project's accelerator-hour budget; once its
	// recorded use reaches it, its jobs are held.
	ProjectBudgetHours map[string]float64
}

// DefaultConfig returns the recommended configuration: the job
// completion time kept short within fair share. The org class furthest
// below its share goes first (ClassWeight above every other factor);
// inside a class, Tiresias's least attained service (sched.DefaultLAS:
// queues below 1 and 10 accelerator-hours, with its starvation guard),
// then the user's fair share, QoS, age and size. EASY backfill with 16
// reservations, recomputed every minute; preemption of lower tiers, and
// of later attained-service queues within a tier (preemptible or
// checkpointable jobs only), after 10 minutes of runtime.
func DefaultConfig() Config {
	pr := sched.DefaultPriority()
	pr.ClassWeight = DefaultClassWeight
	pr.AttainedWeight = DefaultAttainedWeight
	pr.LAS = sched.DefaultLAS()
	return Config{
		DefaultWalltime:  24 * time.Hour,
		BackfillDepth:    16,
		PriorityInterval: time.Minute,
		Priority:         pr,
		FairShare: sched.FairShareConfig{
			HalfLife:    7 * 24 * time.Hour,
			ClassShares: map[string]float64{sched.ClassResearch: 40, sched.ClassSME: 20, sched.ClassIndustry: 20, sched.ClassPublic: 20},
		},
		Preemption: Preemption{Enabled: true, MinRuntime: 10 * time.Minute, Grace: 5 * time.Minute, Signal: "SIGUSR1", Attained: true},
	}
}

// The default policy's class and attained-service weights: one step of
// the class factor (a quarter, with four classes) outweighs every other
// factor together, and one step of the attained factor (a half, with
// three queues) outweighs sched.DefaultPriority's factors together, so
// the order is class, then queue, then the multifactor priority.
const (
	DefaultClassWeight    = 1_000_000
	DefaultAttainedWeight = 100_000
)

// Placement policies for one-node jobs, as the operator names them (the
// config's scheduler.placement).
const (
	// PlacementBestFit is plain best fit (Config.Fragmentation empty).
	PlacementBestFit = "best-fit"
	// PlacementFragmentationAware is the twin's gigafactory placement
	// (sched.FragAware) against DefaultFragmentationMix.
	PlacementFragmentationAware = "fragmentation-aware"
)

// DefaultFragmentationMix is the request mix fragmentation-aware placement
// measures against when no workload is known in advance (gf serve): one
// request each of 1, 2, 4 and 8 whole accelerators of any model, weighed
// as the twin's gigafactory policy weighs a workload's requests
// (sched.GigafactoryMix: by the square root of the accelerators asked for).
func DefaultFragmentationMix() sched.RequestMix {
	reqs := make([]sched.NodeRequest, 0, 4)
	for _, n := range []int{1, 2, 4, 8} {
		reqs = append(reqs, sched.NodeRequest{Devices: n, PerDevice: 1000})
	}
	return sched.MixOf(reqs, sched.GigafactoryMix)
}

func (c *Config) walltime() time.Duration {
	if c.DefaultWalltime > 0 {
		return c.DefaultWalltime
	}
	return 24 * time.Hour
}

func (c *Config) tier(qos string) int {
	t := c.Preemption.Tiers
	if t == nil {
		t = DefaultTiers
	}
	if v, ok := t[qos]; ok {
		return v
	}
	return t[""]
}
