package daemon

import (
	"context"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Loads reports every site's current load: running jobs and the
// accelerators they hold, by pool, and the pending jobs the broker routed
// there. With nodes, each pool's use is also given node by node (for one
// site's heat map; a whole network's would be large).
func (d *Daemon) Loads(ctx context.Context, nodes bool) (map[string]*core.SiteLoad, error) {
	sites := d.Sites()
	out := make(map[string]*core.SiteLoad, len(sites))
	pools := map[string]map[string]int{} // site → pool → index in Pools
	for _, s := range sites {
		l := &core.SiteLoad{Pools: make([]core.PoolLoad, len(s.Pools))}
		pools[s.ID] = map[string]int{}
		for i, p := range s.Pools {
			l.Pools[i].Name = p.Name
			if nodes {
				l.Pools[i].Nodes = make([]float64, p.Nodes)
			}
			pools[s.ID][p.Name] = i
		}
		out[s.ID] = l
	}
	err := d.do(ctx, func(ctx context.Context) {
		d.applyQueued(ctx)
		for site, n := range d.eng.QueuedBySite() {
			if l := out[site]; l != nil {
				l.Pending = n
				if nodes {
					l.Queued = d.eng.QueuedAt(site, MaxQueuedShown)
				}
			}
		}
		for _, j := range d.active {
			l := out[j.Site]
			if l == nil || j.Alloc == nil {
				continue
			}
			l.Running++
			used := float64(j.Alloc.Accelerators()) / 1000
			l.InUse += used
			pi, ok := pools[j.Site][j.Alloc.Pool]
			if !ok {
				if len(j.Alloc.Pools()) > 1 {
					spanLoad(l, pools[j.Site], j.Alloc, nodes)
				}
				continue
			}
			pl := &l.Pools[pi]
			pl.InUse += used
			if !nodes {
				continue
			}
			for _, na := range j.Alloc.Nodes {
				i := nodeIndex(na.Node)
				if i < 0 || i >= len(pl.Nodes) {
					continue
				}
				if na.Milli > 0 {
					pl.Nodes[i] += float64(na.Milli) / 1000
				} else {
					pl.Nodes[i] += float64(len(na.Accels))
				}
			}
		}
	})
	return out, err
}

// spanLoad counts a gang across pools (core.Allocation.Pools) into
// each pool its nodes lie in, by the pool their names say.
func spanLoad(l *core.SiteLoad, pools map[string]int, a *core.Allocation, nodes bool) {
	for _, na := range a.Nodes {
		pi, ok := pools[core.NodePool(na.Node)]
		if !ok {
			continue
		}
		pl := &l.Pools[pi]
		use := float64(len(na.Accels))
		if na.Milli > 0 {
			use = float64(na.Milli) / 1000
		}
		pl.InUse += use
		if i := nodeIndex(na.Node); nodes && i >= 0 && i < len(pl.Nodes) {
			pl.Nodes[i] += use
		}
	}
}

// MaxQueuedShown bounds the queued jobs a site's load lists.
const MaxQueuedShown = 100

// nodeIndex reads a node's index in its pool from its name (pool-0007 →
// 7, as package sched names nodes); -1 when the name has no index.
func nodeIndex(name string) int {
	k := strings.LastIndexByte(name, '-')
	if k < 0 {
		return -1
	}
	i, err := strconv.Atoi(name[k+1:])
	if err != nil {
		return -1
	}
	return i
}
