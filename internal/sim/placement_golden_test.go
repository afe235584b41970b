package sim

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/sched"
	"github.com/gigafactory/gigafactory/internal/trace"
)

const (
	openbNodeSample = "../trace/testdata/openb_node_sample.csv"
	openbPodSample  = "../trace/testdata/openb_pod_sample.csv"
)

func readOpenbSample(t *testing.T) ([]trace.Node, []trace.Job) {
	t.Helper()
	nodes, _, err := trace.OpenNodes(openbNodeSample, trace.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	src, err := trace.OpenPods(openbPodSample, trace.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var pods []trace.Job
	for {
		j, err := src.Next()
		if err == io.EOF {
			return nodes, pods
		}
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, j)
	}
}

// The placement experiment on the openb sample gives, seed by seed, what
// it gave before the seeds ran in parallel and fragmentation scoring was
// kept per node and request class (testdata/placement_sample.golden.json:
// the "placement" of summary.json from `gf simulate --mode placement
// --trace openb:NODES,PODS --policy bestfit,fgd,gigafactory --seeds 42-51`
// at commit fe79d22), whatever the number of workers.
func TestPlacementSampleGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/placement_sample.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var want []PlacementResult
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	nodes, pods := readOpenbSample(t)
	var seeds []uint64
	for s := uint64(42); s <= 51; s++ {
		seeds = append(seeds, s)
	}
	for _, workers := range []int{1, 3, 0} {
		got, err := RunPlacement(PlacementConfig{Nodes: nodes, Pods: pods, Demand: 1.3, Seeds: seeds,
			Policies: []string{PlaceBestFit, PlaceFGD, PlaceGigafactory}, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("workers %d: placement differs from the golden run (-want +got):\n%s", workers, d)
		}
	}
}

// placeAllReference is placeAll without the index: every pod scored on
// every node by the stateless sched functions.
func placeAllReference(nodes []sched.NodeFree, pods []trace.Job, policy string, mix sched.RequestMix) PlacementSeed {
	s := PlacementSeed{Pods: len(pods)}
	var alloc, requested core.Milli
	for _, p := range pods {
		r := podRequest(p)
		requested += r.Accelerators()
		var c sched.NodeChoice
		var ok bool
		switch policy {
		case PlaceBestFit:
			c, ok = sched.BestFit(nodes, r)
		case PlaceGigafactory:
			c, ok = sched.FragAwareTuned(nodes, r, mix, sched.GigafactoryTuning)
		default:
			c, ok = sched.FragAware(nodes, r, mix)
		}
		if !ok {
			s.Refused++
			continue
		}
		nodes[c.Node].Take(r, c.Devices)
		s.Placed++
		alloc += r.Accelerators()
	}
	s.AllocationRatio, s.RequestedRatio = float64(alloc), float64(requested)
	var free core.Milli
	for i := range nodes {
		free += nodes[i].FreeAccel()
	}
	if free > 0 {
		s.Fragmentation = sched.Fragmentation(nodes, mix) / float64(free)
	}
	return s
}

// With most pods pinned to GPU models (the case that was slowest), the
// indexed runs, one index reused from seed to seed as RunPlacement's
// workers do, equal the stateless reference pod by pod.
func TestPlacementIndexMatchesReference(t *testing.T) {
	nodes, pods := readOpenbSample(t)
	specs := []string{"P100", "G2|G3", "V100M16|V100M32", "G2", "P100|V100M32"}
	rng := rand.New(rand.NewPCG(7, 7))
	constrained := 0
	for i := range pods {
		if pods[i].Devices > 0 && rng.IntN(10) < 7 {
			pods[i].Model = specs[rng.IntN(len(specs))]
			constrained++
		}
	}
	if constrained < len(pods)/2 {
		t.Fatalf("only %d of %d pods pinned to a model", constrained, len(pods))
	}
	var base []sched.NodeFree
	var capacity core.Milli
	for _, n := range nodes {
		free := make([]core.Milli, n.GPUs)
		for d := range free {
			free[d] = 1000
		}
		base = append(base, sched.NodeFree{Model: n.Model, Free: free, CPUMilli: n.CPUMilli, MemMiB: n.MemMiB})
		capacity += core.Milli(n.GPUs) * 1000
	}
	reqs := make([]sched.NodeRequest, len(pods))
	for i, p := range pods {
		reqs[i] = podRequest(p)
	}
	cases := map[string]sched.MixOptions{PlaceBestFit: sched.GigafactoryMix, PlaceFGD: sched.FGDMix, PlaceGigafactory: sched.GigafactoryPlaceMix}
	for policy, opts := range cases {
		mix := sched.MixOf(reqs, opts)
		var kept *sched.FragIndex
		for seed := uint64(1); seed <= 6; seed++ {
			work := Workload(pods, capacity, 1.6, rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)))
			want := placeAllReference(cloneNodes(base), work, policy, mix)
			got := placeAll(cloneNodes(base), work, policy, mix, &kept)
			if want != got {
				t.Fatalf("%s seed %d: reference %+v, indexed %+v", policy, seed, want, got)
			}
			if want.Refused == 0 {
				t.Fatalf("%s seed %d: nothing refused at 160%% demand: %+v", policy, seed, want)
			}
		}
	}
}
