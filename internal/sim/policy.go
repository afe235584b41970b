package sim

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gigafactory/gigafactory/internal/engine"
	"github.com/gigafactory/gigafactory/internal/sched"
)

// Policies the replay knows, as --policy spells them. PolicyLive, the
// default, is what `gf serve` runs; the others are alternatives.
const (
	PolicyLive        = "live"
	PolicyLean        = "lean"
	PolicyFIFO        = "fifo"
	PolicyBackfill    = "backfill"
	PolicyGigafactory = "gigafactory"
	PolicyTiresias    = "tiresias"
)

// PhillyCheckpointable is a named assumption of Philly replays: every job
// of the trace (deep-learning training, as Tiresias assumes) can be
// checkpointed, so a policy that preempts (gigafactory, tiresias, live)
// may stop it for a job of an earlier attained-service queue; it stops
// Grace after the signal (the time it checkpoints, which is lost), keeps
// the work it had done and runs what is left when it starts again. The
// trace records no such flag; its jobs are not marked preemptible.
const PhillyCheckpointable = true

// PhillyCheckpointableNote states PhillyCheckpointable in a summary's
// assumptions.
const PhillyCheckpointableNote = "Philly jobs are checkpointable (deep-learning training, Tiresias's assumption): a preempted job stops after the grace period, which is lost, and resumes with the work it had done"

// liveEngineConfig is the engine configuration `gf serve` runs: the
// operator's scheduler section when given, else engine.DefaultConfig().
func liveEngineConfig(op *engine.Config) engine.Config {
	if op != nil {
		return *op
	}
	return engine.DefaultConfig()
}

// Scheduling is what a replay runs: the engine's configuration and, when
// Broker is set, the federation broker in front of it with Routing.
type Scheduling struct {
	Policy  string
	Engine  engine.Config
	Broker  bool
	Routing engine.Routing
}

// PolicyScheduling returns what policy name runs. op is the operator's
// engine configuration (nil = engine.DefaultConfig(), as `gf serve`
// without a scheduler section); orgKind maps each tenant (the job's org)
// to its organisation class, for fair share; broker puts the broker in
// front of the alternatives that do not have it.
//
//   - live: exactly `gf serve`: op's engine configuration with site
//     default walltimes (daemon.New sets SiteWalltimes), and the broker
//     routing each job as serve routes it (engine.LiveRouting). Jobs of a
//     site that goes down are requeued and routed again, by the
//     federation's own Requeue intents, as live.
//   - lean: live's engine configuration without the broker: the engine
//     places each job in any eligible pool of the network. The fast twin.
//   - fifo: the engine's zero Config (submission order, first fit, no
//     reservations, no preemption), priorities recomputed every minute.
//   - backfill: Slurm-like multifactor priority (sched.DefaultPriority:
//     fair share, QoS, age, size) with EASY backfill (one reservation, the
//     head of the queue), flat fair share between organisations, no
//     preemption.
//   - tiresias: the reference 2D-LAS (Gu et al., NSDI'19): attained
//     accelerator-seconds in discretised queues (sched.DefaultLAS, with its
//     starvation guard), first come first served within a queue, jobs of
//     a later queue preempted (preemptible or checkpointable ones, after
//     the same minimum runtime and grace as the default), greedy: no
//     reservations, flat fair share that orders nothing.
//   - gigafactory: engine.DefaultConfig() (class fair share outermost,
//     LAS inside a class, EASY backfill, preemption) and, when mix is not empty,
//     fragmentation-aware placement of one-node jobs against the
//     workload's mix (sched.FragAware), which `gf serve` does not run.
func PolicyScheduling(name string, op *engine.Config, orgKind map[string]string, mix sched.RequestMix, broker bool) (Scheduling, error) {
	s := Scheduling{Policy: name, Broker: broker, Routing: engine.LiveRouting()}
	switch name {
	case PolicyLive, PolicyLean:
		s.Engine = liveEngineConfig(op)
		s.Engine.SiteWalltimes = true
		s.Engine.FairShare.OrgKind = orgKind
		s.Broker = name == PolicyLive
	case PolicyFIFO:
		// All priority weights zero: submission order. Recomputing that
		// order every minute instead of every pass changes nothing but
		// the cost.
		s.Engine = engine.Config{PriorityInterval: time.Minute}
	case PolicyBackfill:
		s.Engine = engine.Config{
			DefaultWalltime:  24 * time.Hour,
			BackfillDepth:    1,
			PriorityInterval: time.Minute,
			Priority:         sched.DefaultPriority(),
			FairShare:        sched.FairShareConfig{HalfLife: 7 * 24 * time.Hour},
		}
	case PolicyTiresias:
		d := engine.DefaultConfig()
		s.Engine = engine.Config{
			DefaultWalltime:  24 * time.Hour,
			PriorityInterval: time.Minute,
			Priority:         sched.PriorityConfig{AttainedWeight: engine.DefaultAttainedWeight, LAS: sched.DefaultLAS()},
			FairShare:        sched.FairShareConfig{HalfLife: 7 * 24 * time.Hour},
			Preemption:       d.Preemption,
		}
	case PolicyGigafactory:
		s.Engine = engine.DefaultConfig()
		s.Engine.FairShare.OrgKind = orgKind
		s.Engine.Fragmentation = mix
	default:
		return Scheduling{}, fmt.Errorf("unknown policy %q (live, lean, fifo, backfill, tiresias, gigafactory)", name)
	}
	if !s.Broker {
		s.Routing = engine.Routing{}
	}
	return s, nil
}

// PolicyConfig returns the engine configuration for a policy name, with
// the live configuration engine.DefaultConfig().
func PolicyConfig(name string, orgKind map[string]string, mix sched.RequestMix) (engine.Config, error) {
	s, err := PolicyScheduling(name, nil, orgKind, mix, false)
	return s.Engine, err
}

// Record is the configuration summary.json records for a policy: the
// engine's configuration and the routing, as JSON with sorted keys. The
// organisation kinds (the workload's tenants) are counted, not listed,
// and so are the entries of a fragmentation mix.
func (s Scheduling) Record() (json.RawMessage, error) {
	c := s.Engine
	orgs, mix := len(c.FairShare.OrgKind), len(c.Fragmentation)
	c.FairShare.OrgKind, c.Fragmentation = nil, nil
	rec := map[string]any{"policy": s.Policy, "broker": s.Broker, "engine": c, "org_kinds": orgs, "fragmentation_mix_entries": mix}
	if s.Broker {
		rec["routing"] = s.Routing
	}
	if c.SiteWalltimes {
		rec["trace_walltimes"] = TraceWalltimes
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("policy %s: record its configuration: %w", s.Policy, err)
	}
	// Through a generic value, so that every object's keys are sorted.
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
