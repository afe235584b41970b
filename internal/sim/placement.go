package sim

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
	"github.com/gigafactory/gigafactory/internal/trace"
)

// Placement policies of the FGD experiment.
const (
	PlaceBestFit     = "bestfit"     // sched.BestFit
	PlaceFGD         = "fgd"         // sched.FragAware with the FGD artifact's mix
	PlaceGigafactory = "gigafactory" // sched.FragAwareTuned: sched.GigafactoryPlaceMix, sched.GigafactoryTuning
)

// PlacementConfig is the FGD artifact's experiment: pods, in an order drawn
// from the seed, placed or refused one at a time against every node's
// accelerators, CPU and memory, never leaving, until the accelerators
// requested reach Demand times the cluster's.
type PlacementConfig struct {
	Nodes    []trace.Node // nodes without accelerators take host-only pods
	Pods     []trace.Job
	Demand   float64  // 1.3 = requests up to 130% of the cluster's accelerators
	Seeds    []uint64 // the artifact used 42..51
	Policies []string // PlaceBestFit, PlaceGigafactory
	// Coverage is the share of GPU pods whose request types make up the
	// fragmentation reference mix (the most common types first); 0 = all.
	Coverage float64
	// Workers runs this many (seed, policy) runs at once; 0 = GOMAXPROCS.
	// The results do not depend on it.
	Workers int
}

// PlacementResult is one policy's outcome over every seed.
type PlacementResult struct {
	Policy string `json:"policy"`
	// AllocationRatio is the mean over seeds of the accelerators allocated
	// (a share counts its thousandths) over the cluster's accelerators.
	AllocationRatio float64         `json:"allocation_ratio"`
	Seeds           []PlacementSeed `json:"seeds"`
}

// PlacementSeed is one seed's run.
type PlacementSeed struct {
	Seed            uint64  `json:"seed"`
	Pods            int     `json:"pods"`
	Placed          int     `json:"placed"`
	Refused         int     `json:"refused"`
	RequestedRatio  float64 `json:"requested_ratio"`
	AllocationRatio float64 `json:"allocation_ratio"`
	// Fragmentation is the share of the still-free accelerator capacity
	// that the workload's mix could not use at the end (measured against
	// the policy's own mix; bestfit against GigafactoryMix).
	Fragmentation float64 `json:"fragmentation"`
}

func podRequest(j trace.Job) sched.NodeRequest {
	return sched.NodeRequest{Devices: j.Devices, PerDevice: j.PerDevice(), CPUMilli: j.CPUMilli, MemMiB: j.MemMiB, Model: j.Model}
}

// Workload is the pod sequence of one seed: the trace's pods plus copies of
// pods drawn at random until the next copy would push the accelerators
// requested past demand times capacity (the artifact's "tune up"), then
// shuffled. Both draws come from rng.
func Workload(pods []trace.Job, capacity core.Milli, demand float64, rng *rand.Rand) []trace.Job {
	out := slices.Clone(pods)
	var req core.Milli
	for _, p := range pods {
		req += p.Accelerators
	}
	target := core.Milli(demand * float64(capacity))
	for len(pods) > 0 {
		p := pods[rng.IntN(len(pods))]
		if req+p.Accelerators > target {
			break
		}
		req += p.Accelerators
		out = append(out, p)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// RunPlacement runs every policy on every seed. All policies of a seed see
// the same pod sequence.
func RunPlacement(cfg PlacementConfig) ([]PlacementResult, error) {
	var base []sched.NodeFree
	var capacity core.Milli
	for _, n := range cfg.Nodes {
		free := make([]core.Milli, n.GPUs)
		for i := range free {
			free[i] = 1000
		}
		base = append(base, sched.NodeFree{Model: n.Model, Free: free, CPUMilli: n.CPUMilli, MemMiB: n.MemMiB})
		capacity += core.Milli(n.GPUs) * 1000
	}
	if capacity == 0 {
		return nil, fmt.Errorf("placement: no nodes with accelerators")
	}
	if len(cfg.Pods) == 0 {
		return nil, fmt.Errorf("placement: no pods")
	}
	reqs := make([]sched.NodeRequest, len(cfg.Pods))
	for i, p := range cfg.Pods {
		reqs[i] = podRequest(p)
	}
	results := make([]PlacementResult, len(cfg.Policies))
	mixes := make([]sched.RequestMix, len(cfg.Policies))
	for i, pol := range cfg.Policies {
		opts := sched.GigafactoryMix
		switch pol {
		case PlaceBestFit:
		case PlaceGigafactory:
			opts = sched.GigafactoryPlaceMix
		case PlaceFGD:
			opts = sched.FGDMix
		default:
			return nil, fmt.Errorf("placement: unknown policy %q (%s, %s, %s)", pol, PlaceBestFit, PlaceFGD, PlaceGigafactory)
		}
		if cfg.Coverage > 0 {
			opts.Coverage = cfg.Coverage
		}
		mixes[i] = sched.MixOf(reqs, opts)
		results[i].Policy = pol
	}
	// Every (seed, policy) run is independent: a worker pool runs them in
	// parallel, and the results are gathered in seed order afterwards, so
	// the output (the mean's sum order included) is the sequential one.
	workloads := make([][]trace.Job, len(cfg.Seeds))
	for k, seed := range cfg.Seeds {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		workloads[k] = Workload(cfg.Pods, capacity, cfg.Demand, rng)
	}
	runs := make([]PlacementSeed, len(cfg.Seeds)*len(cfg.Policies))
	// Each worker keeps one index per policy from run to run
	// (sched.FragIndex.Reset): what it memoises does not depend on the seed.
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(runs))
	kept := make([][]*sched.FragIndex, workers)
	for w := range kept {
		kept[w] = make([]*sched.FragIndex, len(cfg.Policies))
	}
	parallel(len(runs), workers, func(w, j int) {
		k, i := j/len(cfg.Policies), j%len(cfg.Policies)
		runs[j] = placeAll(cloneNodes(base), workloads[k], cfg.Policies[i], mixes[i], &kept[w][i])
	})
	for k, seed := range cfg.Seeds {
		for i := range cfg.Policies {
			s := runs[k*len(cfg.Policies)+i]
			s.Seed = seed
			s.AllocationRatio /= float64(capacity)
			s.RequestedRatio /= float64(capacity)
			results[i].Seeds = append(results[i].Seeds, s)
			results[i].AllocationRatio += s.AllocationRatio / float64(len(cfg.Seeds))
		}
	}
	return results, nil
}

// parallel calls run(w, j) for j in 0..n-1 on workers goroutines, w being
// the worker (0..workers-1), and returns when every call has.
func parallel(n, workers int, run func(w, j int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := int(next.Add(1)) - 1; j < n; j = int(next.Add(1)) - 1 {
				run(w, j)
			}
		}()
	}
	wg.Wait()
}

func cloneNodes(ns []sched.NodeFree) []sched.NodeFree {
	out := make([]sched.NodeFree, len(ns))
	for i, n := range ns {
		out[i] = n
		out[i].Free = slices.Clone(n.Free)
	}
	return out
}

// placeAll places pods in order; ratios are returned in thousandths and
// scaled by the caller. *kept, when set, is the index of an earlier run
// with the same policy and mix, reused; else it is set to this run's.
func placeAll(nodes []sched.NodeFree, pods []trace.Job, policy string, mix sched.RequestMix, kept **sched.FragIndex) PlacementSeed {
	s := PlacementSeed{Pods: len(pods)}
	idx := *kept
	if idx == nil {
		idx = sched.NewFragIndex(nodes, mix)
		*kept = idx
	} else {
		idx.Reset(nodes)
	}
	if policy == PlaceGigafactory {
		idx.Tuning = sched.GigafactoryTuning
	}
	var alloc core.Milli
	var requested core.Milli
	for _, p := range pods {
		r := podRequest(p)
		requested += r.Accelerators()
		var c sched.NodeChoice
		var ok bool
		if policy == PlaceBestFit {
			c, ok = sched.BestFit(idx.Nodes, r)
		} else {
			c, ok = idx.Choose(r)
		}
		if !ok {
			s.Refused++
			continue
		}
		idx.Take(c, r)
		s.Placed++
		alloc += r.Accelerators()
	}
	s.AllocationRatio = float64(alloc)
	s.RequestedRatio = float64(requested)
	var free core.Milli
	for i := range nodes {
		free += nodes[i].FreeAccel()
	}
	if free > 0 {
		s.Fragmentation = sched.Fragmentation(nodes, mix) / float64(free)
	}
	return s
}
