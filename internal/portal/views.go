package portal

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/portal/geo"
)

// views registers every page. Each handler reads through the viewer's API
// client (s.c) and renders one template; a refused read is shown, not
// hidden.
func (p *Portal) views(mux *http.ServeMux) {
	get := func(path string, h func(http.ResponseWriter, *http.Request)) {
		mux.HandleFunc("GET "+path, p.withSession(h))
	}
	post := func(path string, h func(http.ResponseWriter, *http.Request)) {
		mux.HandleFunc("POST "+path, p.withSession(h))
	}
	get("/{$}", p.network)
	get("/sites/{id}", p.site)
	post("/sites/{id}/{action}", p.siteAction)
	get("/jobs", p.jobs)
	get("/jobs/{id}", p.job)
	post("/jobs/{id}/cancel", p.cancelJob)
	get("/jobs/{id}/log", p.followLog)
	get("/submit", p.submitPage)
	post("/submit", p.submit)
	get("/projects", p.projects)
	get("/projects/{name}", p.project)
	get("/events", p.events)
	get("/access", p.accessView)
	post("/access/proposals", p.createProposal)
	post("/access/proposals/{id}/review", p.reviewProposal)
	post("/access/proposals/{id}/award", p.awardProposal)
	get("/usage", p.usage)
	get("/ai-act", p.aiActView)
	get("/ai-act/{id}", p.aiActReport)
	get("/audit", p.auditView)
	get("/twin", p.twinView)
	get("/twin/{name}", p.twinReport)
}

// siteView is a site with what the map and the tables show of it.
type siteView struct {
	core.Site
	Util       float64 // share of accelerators in use
	X, Y       float64 // on the map
	R          float64 // the dot's radius, by size
	Located    bool
	InUse      float64
	Running    int
	Pending    int
	CanOperate bool
}

type networkData struct {
	Sites                  []siteView
	ViewBox                string
	Countries              []geo.Country
	Accelerators           int
	InUse                  float64
	Running                int
	Pending                int
	Active, Draining, Down int
	CarbonMean             float64 // accelerator-weighted grid intensity, g/kWh
}

func (p *Portal) network(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	pg := page{Title: "Network", Nav: "network", Live: true}
	sites, err := s.c.Sites(r.Context())
	if err != nil {
		p.fail(w, r, "network", pg, err)
		return
	}
	d := networkData{ViewBox: geo.ViewBox(), Countries: geo.Countries()}
	var carbonW float64
	for _, st := range sites {
		v := viewOf(st, s.me)
		d.Accelerators += st.Accelerators
		d.InUse += v.InUse
		d.Running += v.Running
		d.Pending += v.Pending
		switch st.State {
		case core.SiteDraining:
			d.Draining++
		case core.SiteDown:
			d.Down++
		default:
			d.Active++
		}
		d.CarbonMean += st.CarbonGPerKWh * float64(st.Accelerators)
		carbonW += float64(st.Accelerators)
		d.Sites = append(d.Sites, v)
	}
	if carbonW > 0 {
		d.CarbonMean /= carbonW
	}
	// Small dots on top of big ones.
	slices.SortStableFunc(d.Sites, func(a, b siteView) int { return cmp.Compare(b.Accelerators, a.Accelerators) })
	pg.Data = d
	p.render(w, r, http.StatusOK, "network", pg)
}

func viewOf(st core.Site, me *core.Whoami) siteView {
	v := siteView{Site: st}
	if st.Load != nil {
		v.InUse, v.Running, v.Pending = st.Load.InUse, st.Load.Running, st.Load.Pending
	}
	v.Util = ratio(v.InUse, float64(st.Accelerators))
	if lat, lon, ok := geo.Locate(st.Country, st.City); ok {
		v.X, v.Y = geo.Project(lat, lon)
		v.Located = true
	}
	switch n := st.Accelerators; {
	case n >= 50000:
		v.R = 14
	case n >= 10000:
		v.R = 10
	case n >= 1000:
		v.R = 7
	default:
		v.R = 5
	}
	v.CanOperate = me != nil && (me.Role == core.RoleAdmin || me.Role == core.RoleOperator)
	return v
}

// heatCell is one square of a pool's heat map: a node, or a block of nodes
// when the pool is too large to draw node by node.
type heatCell struct {
	X, Y  int
	Label string
	InUse float64
	Of    float64
	Level int
}

type poolView struct {
	core.Pool
	InUse  float64
	Total  int
	Cells  []heatCell
	Width  int // of the heat map's SVG
	Height int
	Unit   string // node or block
}

type siteData struct {
	siteView
	Pools       []poolView
	RunningJobs []core.Job
	PendingJobs []core.Job
}

// maxCells bounds a heat map: larger pools are drawn by groups of nodes.
const maxCells = 1024

func (p *Portal) site(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	id := r.PathValue("id")
	pg := page{Title: "Site " + id, Nav: "network", Live: true}
	st, err := s.c.Site(r.Context(), id)
	if err != nil {
		p.fail(w, r, "site", pg, err)
		return
	}
	d := siteData{siteView: viewOf(*st, s.me)}
	for i, pl := range st.Pools {
		pv := poolView{Pool: pl, Total: pl.Nodes * pl.AccelPerNode, Unit: "node"}
		var nodes []float64
		if st.Load != nil && i < len(st.Load.Pools) {
			pv.InUse = st.Load.Pools[i].InUse
			nodes = st.Load.Pools[i].Nodes
		}
		pv.Cells, pv.Width, pv.Height, pv.Unit = heatMap(pl, nodes)
		d.Pools = append(d.Pools, pv)
	}
	ctx := r.Context()
	if pg, err := s.c.ListJobs(ctx, jobFilter(id, core.StateRunning), ""); err == nil {
		d.RunningJobs = pg.Items
	}
	// The queue: the jobs the broker routed here that the viewer may see
	// (another organisation's are 404 to them, and skipped).
	if st.Load != nil {
		for _, qid := range st.Load.Queued {
			if j, err := s.c.GetJob(ctx, qid); err == nil {
				d.PendingJobs = append(d.PendingJobs, *j)
			}
		}
	}
	pg.Data = d
	p.render(w, r, http.StatusOK, "site", pg)
}

// heatMap lays a pool's nodes (or groups of nodes) out as squares, 32 a
// row.
func heatMap(pl core.Pool, nodes []float64) (cells []heatCell, width, height int, unit string) {
	group := 1
	unit = "node"
	blocks := pl.NodesPerBlock > 1 && pl.Nodes > maxCells && (pl.Nodes+pl.NodesPerBlock-1)/pl.NodesPerBlock <= maxCells
	switch {
	case blocks: // a square per leaf switch / NVLink domain
		group = pl.NodesPerBlock
		unit = "block of " + num(group) + " nodes"
	case pl.Nodes > maxCells:
		group = (pl.Nodes + maxCells - 1) / maxCells
		unit = "group of " + num(group) + " nodes"
	}
	const size, perRow = 14, 32
	n := (pl.Nodes + group - 1) / group
	for c := 0; c < n; c++ {
		lo, hi := c*group, min((c+1)*group, pl.Nodes)
		var used float64
		for i := lo; i < hi && i < len(nodes); i++ {
			used += nodes[i]
		}
		of := float64((hi - lo) * pl.AccelPerNode)
		label := pl.Name + "-" + num(lo)
		if group > 1 {
			label = "nodes " + num(lo) + "–" + num(hi-1)
			if blocks {
				label = "block " + num(c) + " (" + label + ")"
			}
		}
		cells = append(cells, heatCell{X: (c % perRow) * size, Y: (c / perRow) * size, Label: label, InUse: used, Of: of, Level: level(ratio(used, of))})
	}
	rows := (n + perRow - 1) / perRow
	return cells, min(n, perRow) * size, rows * size, unit
}

func (p *Portal) siteAction(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	id, action := r.PathValue("id"), r.PathValue("action")
	if _, err := s.c.SiteAction(r.Context(), id, action); err != nil {
		p.fail(w, r, "site", page{Title: "Site " + id, Nav: "network", Data: siteData{siteView: siteView{Site: core.Site{ID: id}}}}, err)
		return
	}
	done := map[string]string{"drain": "drained: it takes no new jobs", "resume": "resumed", "down": "marked down: its jobs are requeued elsewhere"}[action]
	http.Redirect(w, r, "/sites/"+url.PathEscape(id)+"?done="+url.QueryEscape("Site "+id+" "+done+"."), http.StatusSeeOther)
}
