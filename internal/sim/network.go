package sim

import (
	"fmt"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// PhillyGPUs is the assumed size of Microsoft's Philly cluster: about
// 2,490 GPUs (Jeon et al., USENIX ATC'19, which describes the cluster but
// whose trace does not list its machines; the published summaries in
// ../shared/traces/summaries give job statistics, not the GPU count). We
// model it as 311 nodes of 8 GPUs, 2,488 GPUs, in 8-node racks.
const PhillyGPUs = 311 * 8

// PhillyCluster is a one-site network the size of Philly, for replaying
// the Philly trace against its own published queueing delays.
func PhillyCluster() []core.Site { return PhillyClusterOf(PhillyGPUs) }

// PhillyClusterOf is PhillyCluster with about gpus GPUs (rounded down to
// whole 8-GPU nodes), for load-sensitivity runs.
func PhillyClusterOf(gpus int) []core.Site {
	nodes := max(gpus/8, 1)
	return []core.Site{{
		ID: "philly", Name: fmt.Sprintf("Philly-scale cluster (assumed %d GPUs)", nodes*8), Kind: core.SiteFactory, Country: "US",
		Pools: []core.Pool{{
			Name: "gpu", Model: "P100", AccelPerNode: 8, Nodes: nodes, NodesPerBlock: 8,
			CPUsPerNode: 48, MemMiBPerNode: 512 * 1024,
		}},
		Driver: "sim", State: core.SiteActive, Accelerators: nodes * 8, AssumedSize: true,
		DefaultWalltime: core.Duration(24 * time.Hour), MaxWalltime: core.Duration(60 * 24 * time.Hour),
		Source: "Jeon et al., USENIX ATC'19 (about 2,490 GPUs)",
	}}
}
