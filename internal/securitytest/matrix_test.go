package securitytest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The role matrix (issue 14, acceptance): every route the server
// registers, as its own OpenAPI document lists them, asked by every
// principal, with its path filled with a real object of tenant A (acme:
// project rocket, site sitex) and again with one of tenant B (beta:
// project probe, site sitey). Each answer must be what the table below
// grants: a granted read 2xx; a granted mutation 2xx, or 409/422 when an
// earlier principal left the object in another state; anything not granted
// 401, 403 or 404 (never 2xx, never 5xx); a mutation beyond a token's
// scope 403. No 2xx answer of a tenant's
// people names the other tenant's objects.

// Principals: the roles of the matrix's columns.
const (
	pAdmin = "admin" // global administrator
	pOp    = "op"    // operator of site sitex
	pAlloc = "alloc" // allocator
	pRev   = "rev"   // reviewer, assigned to two of acme's proposals
	pPI    = "pi"    // PI of acme's project rocket
	pMem   = "mem"   // member of rocket (alice), who submitted its jobs
	pOAB   = "oaB"   // org-admin of beta
	pUserB = "userB" // user of beta (bob), member of probe, who submitted its jobs
	// Tokens that must fail whoever they belong to (the administrator's).
	pNone    = "none"    // no token: 401 except on public routes
	pExpired = "expired" // 401
	pRevoked = "revoked" // 401
	pRead    = "read"    // scope read: the administrator's reads, 403 for any mutation
	pSubmit  = "submit"  // scope submit: the administrator's reads, job submissions and cancellations; 403 for other mutations
)

// submitScope are the mutations a token of scope submit may make.
var submitScope = []string{"POST /api/v1/jobs", "POST /api/v1/jobs:batch", "POST /api/v1/jobs:cancel", "DELETE /api/v1/jobs/{id}", "POST /api/v1/jobs/{id}/cancel"}

// principalOrder is the order each route is asked in: the tokens that must
// fail first, the administrator last, so that a mutation's first granted
// caller is the narrowest role granted it (and gets the fresh object).
var principalOrder = []string{pNone, pExpired, pRevoked, pRead, pSubmit, pUserB, pOAB, pMem, pPI, pRev, pAlloc, pOp, pAdmin}

const (
	public = "*"                                   // everyone, without a token too
	all    = "admin op alloc rev pi mem oaB userB" // every authenticated role
	noRole = "-"                                   // no role
	aView  = "admin pi mem"                        // acme's organisation
	bView  = "admin oaB userB"                     // beta's organisation
	aJob   = "admin op pi mem"                     // acme's job at sitex: its organisation and sitex's operator
	aProp  = "admin alloc rev pi mem"              // acme's proposal, assigned to rev
	bProp  = "admin alloc oaB userB"               // beta's proposal: its org-admin and its project's member
	aAward = "admin alloc pi mem"                  // acme's award
	bAward = bProp                                 // beta's award
	allocs = "admin alloc"                         // calls, rankings, decisions
)

// grant is a row of the matrix: who may call a route with tenant A's
// objects (a) and with tenant B's (b). b is empty for a route that names no
// tenant's object: it is asked once.
type grant struct{ a, b string }

// matrix is the expectation: route → who is granted it. A route the
// server registers without a row here fails the test.
var matrix = map[string]grant{
	"GET /healthz":                                  {a: public},
	"GET /readyz":                                   {a: public},
	"GET /metrics":                                  {a: public},
	"GET /api/v1/openapi.json":                      {a: public},
	"GET /api/v1/auth/oidc":                         {a: public},
	"GET /api/v1/whoami":                            {a: all},
	"GET /api/v1/sites":                             {a: all},
	"GET /api/v1/controllers":                       {a: "admin op"},
	"GET /api/v1/sites/{id}":                        {a: all, b: all},
	"POST /api/v1/sites/{id}/{action}":              {a: "admin op", b: "admin"},
	"POST /api/v1/orgs":                             {a: "admin"},
	"GET /api/v1/orgs":                              {a: all},
	"GET /api/v1/orgs/{name}":                       {a: aView, b: bView},
	"POST /api/v1/projects":                         {a: "admin", b: "admin oaB"},
	"GET /api/v1/projects":                          {a: all},
	"GET /api/v1/projects/{name}":                   {a: aView, b: bView},
	"GET /api/v1/projects/{name}/usage":             {a: aView, b: bView},
	"GET /api/v1/projects/{name}/members":           {a: "admin alloc pi mem", b: "admin alloc oaB userB"},
	"POST /api/v1/projects/{name}/members":          {a: "admin pi", b: "admin oaB"},
	"DELETE /api/v1/projects/{name}/members/{user}": {a: "admin pi", b: "admin oaB"},
	"POST /api/v1/users":                            {a: "admin", b: "admin oaB"},
	"GET /api/v1/users":                             {a: "admin oaB"},
	"GET /api/v1/users/{name}":                      {a: "admin", b: bView}, // acme's org-admin carol; bob
	"POST /api/v1/jobs":                             {a: aView, b: bView},
	"POST /api/v1/jobs:batch":                       {a: aView, b: bView},
	"GET /api/v1/jobs":                              {a: all},
	"GET /api/v1/jobs/{id}":                         {a: aJob, b: bView},
	"GET /api/v1/jobs/{id}/logs":                    {a: aJob, b: bView},
	"GET /api/v1/jobs/{id}/events":                  {a: aJob, b: bView},
	"GET /api/v1/jobs/{id}/explain":                 {a: aJob, b: bView},
	"DELETE /api/v1/jobs/{id}":                      {a: "admin op mem", b: bView},
	"POST /api/v1/jobs/{id}/cancel":                 {a: "admin op mem", b: bView},
	"POST /api/v1/jobs:cancel":                      {a: "admin op mem", b: bView},
	"GET /api/v1/tokens":                            {a: all},
	"POST /api/v1/tokens":                           {a: all},
	"DELETE /api/v1/tokens/{id}":                    {a: "admin mem", b: bView}, // a spare token of alice; of bob
	"POST /api/v1/calls":                            {a: allocs},
	"GET /api/v1/calls":                             {a: all},
	"GET /api/v1/calls/{id}":                        {a: all, b: allocs}, // an open call; a draft
	"POST /api/v1/calls/{id}/open":                  {a: allocs, b: allocs},
	"POST /api/v1/calls/{id}/close":                 {a: allocs, b: allocs},
	"GET /api/v1/calls/{id}/ranking":                {a: allocs, b: allocs},
	"POST /api/v1/proposals":                        {a: "admin pi", b: "admin"},
	"GET /api/v1/proposals":                         {a: all},
	"GET /api/v1/proposals/{id}":                    {a: aProp, b: bProp},
	"GET /api/v1/proposals/{id}/reviews":            {a: aProp, b: bProp},
	"POST /api/v1/proposals/{id}/review":            {a: "rev", b: noRole}, // the assigned reviewer only
	"POST /api/v1/proposals/{id}/submit":            {a: "admin pi", b: "admin"},
	"POST /api/v1/proposals/{id}/withdraw":          {a: "admin pi", b: "admin"},
	"POST /api/v1/proposals/{id}/reject":            {a: allocs, b: allocs},
	"POST /api/v1/proposals/{id}/reviewers":         {a: allocs, b: allocs},
	"POST /api/v1/proposals/{id}/award":             {a: allocs, b: allocs},
	"POST /api/v1/conflicts":                        {a: "admin rev"},
	"GET /api/v1/conflicts":                         {a: all},
	"GET /api/v1/awards":                            {a: all},
	"GET /api/v1/awards/{id}":                       {a: aAward, b: bAward},
	"POST /api/v1/awards/{id}/extend":               {a: allocs, b: allocs},
	"GET /api/v1/audit":                             {a: "admin"},
	"GET /api/v1/ai-act/models":                     {a: all},
	"GET /api/v1/ai-act/models/{id}":                {a: aView, b: bView},
	"GET /api/v1/ai-act/models/{id}/report":         {a: aView, b: bView},
	"GET /api/v1/ai-act/notifications":              {a: all},
	"GET /api/v1/audit/key":                         {a: "admin"},
	"GET /api/v1/usage/report":                      {a: all},
	"GET /api/v1/usage/jobs":                        {a: all},
	"POST /api/v1/reservations":                     {a: "admin op alloc", b: "admin alloc"},
	"GET /api/v1/reservations":                      {a: all},
	"GET /api/v1/reservations/{id}":                 {a: "admin op alloc pi mem", b: "admin alloc oaB userB"},
	"DELETE /api/v1/reservations/{id}":              {a: "admin op alloc", b: "admin alloc"},
}

// bodyRefs are the routes whose body names a tenant's object: one the
// caller may not see is refused 422 naming that field, as an unknown one
// is (never 2xx).
var bodyRefs = map[string]string{
	"POST /api/v1/jobs":        "project",
	"POST /api/v1/jobs:batch":  "project",
	"POST /api/v1/jobs:cancel": "ids[0]",
	"POST /api/v1/proposals":   "project",
}

// granted reports whether principal p may call route on side B or A.
func granted(g grant, sideB bool, p string) bool {
	who := g.a
	if sideB {
		who = g.b
	}
	if who == public {
		return true
	}
	switch p {
	case pNone, pExpired, pRevoked:
		return false
	case pRead, pSubmit:
		p = pAdmin // the scope is checked apart
	}
	return slices.Contains(strings.Fields(who), p)
}

// world is what the matrix asks about: the principals' tokens and the
// objects of both tenants.
type world struct {
	tokens map[string]string
	// hides is, per principal, what no 2xx answer to them may name.
	hides map[string]*regexp.Regexp
	// ids of the objects that fill path parameters, side A then side B.
	job, jobDel, jobCancel, token    [2]string
	callView, callState              [2]string
	propView, propReview, propChange [2]string
	resv, resvDel                    [2]string // advance reservations: rocket's at sitex, probe's at sitey
	n                                int       // names made so far
}

const twoSites = `sites:
  - id: sitex
    kind: local
    country: DE
    driver: local
    default_walltime: 1h
    max_walltime: 48h
    pools:
      - {name: node, model: virtual, accelerators_per_node: 4, nodes: 1, cpus_per_node: 16}
  - id: sitey
    kind: local
    country: FR
    driver: local
    default_walltime: 1h
    max_walltime: 48h
    pools:
      - {name: node, model: virtual, accelerators_per_node: 4, nodes: 1, cpus_per_node: 16}
`

// newWorld makes the principals and both tenants' objects on s.
func newWorld(t *testing.T, s *server) *world {
	ten := s.addTenants() // acme (rocket, alice, carol) and beta (probe, bob)
	w := &world{tokens: map[string]string{pAdmin: s.admin, pMem: ten.alice, pUserB: ten.bob, pNone: ""}}
	user := func(body map[string]any) string {
		var out struct {
			Token string `json:"token"`
		}
		s.mustDo(201, s.admin, "POST", "/api/v1/users", body).decode(t, &out)
		return out.Token
	}
	w.tokens[pOp] = user(map[string]any{"name": "opx", "role": "operator", "sites": []string{"sitex"}})
	w.tokens[pAlloc] = user(map[string]any{"name": "alloc", "role": "allocator"})
	w.tokens[pRev] = user(map[string]any{"name": "rev", "role": "reviewer"})
	w.tokens[pPI] = user(map[string]any{"name": "pia", "org": "acme", "role": "user"})
	w.tokens[pOAB] = user(map[string]any{"name": "bella", "org": "beta", "role": "org-admin"})
	bpi := user(map[string]any{"name": "bpi", "org": "beta", "role": "user"})
	for _, u := range []map[string]any{{"name": "dora", "org": "acme"}, {"name": "dora2", "org": "acme"}, {"name": "dan", "org": "beta"}, {"name": "dan2", "org": "beta"}} {
		user(u)
	}
	for _, m := range [][3]string{{"rocket", "pia", "pi"}, {"rocket", "alice", "member"}, {"rocket", "dora", "member"},
		{"probe", "bpi", "pi"}, {"probe", "bob", "member"}, {"probe", "dan", "member"}} {
		s.mustDo(201, s.admin, "POST", "/api/v1/projects/"+m[0]+"/members", map[string]string{"user": m[1], "role": m[2]})
	}

	// Tokens that must fail: expired, revoked; and one of scope read.
	var tok struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	soon := time.Now().Add(time.Second)
	s.mustDo(201, s.admin, "POST", "/api/v1/tokens", map[string]any{"label": "expiring", "expires_at": soon}).decode(t, &tok)
	w.tokens[pExpired] = tok.Token
	s.mustDo(201, s.admin, "POST", "/api/v1/tokens", map[string]any{"label": "revoked"}).decode(t, &tok)
	w.tokens[pRevoked] = tok.Token
	s.mustDo(200, s.admin, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok.ID), nil)
	s.mustDo(201, s.admin, "POST", "/api/v1/tokens", map[string]any{"label": "reader", "scope": "read"}).decode(t, &tok)
	w.tokens[pRead] = tok.Token
	s.mustDo(201, s.admin, "POST", "/api/v1/tokens", map[string]any{"label": "pipeline", "scope": "submit"}).decode(t, &tok)
	w.tokens[pSubmit] = tok.Token
	for i, owner := range []string{ten.alice, ten.bob} {
		s.mustDo(201, owner, "POST", "/api/v1/tokens", map[string]any{"label": "spare"}).decode(t, &tok)
		w.token[i] = strconv.FormatInt(tok.ID, 10)
	}

	// Jobs, running at each tenant's site: one to read, one each to cancel.
	for i, sub := range []struct{ token, project, site, name string }{{ten.alice, "rocket", "sitex", "ajob"}, {ten.bob, "probe", "sitey", "bjob"}} {
		for _, dst := range []*[2]string{&w.job, &w.jobDel, &w.jobCancel} {
			j := s.submit(sub.token, map[string]any{"name": sub.name, "project": sub.project, "site": sub.site, "command": []string{"sleep", "600"}, "accelerators": 1,
				"lineage": map[string]any{"model": sub.name + "-llm"}}) // the AI Act ledger's models ajob-llm and bjob-llm
			s.wait(sub.token, j.ID, func(j job) bool { return j.State == "running" })
			dst[i] = strconv.FormatInt(j.ID, 10)
		}
	}

	// Advance reservations, each tenant's project's at its site: one to
	// read, one to delete.
	for i, sub := range []struct{ project, site string }{{"rocket", "sitex"}, {"probe", "sitey"}} {
		for j, dst := range []*[2]string{&w.resv, &w.resvDel} {
			name := fmt.Sprintf("resv-%s-%d", sub.project, j)
			// Windows apart: each takes the site's one node.
			s.mustDo(201, s.admin, "POST", "/api/v1/reservations", map[string]any{"name": name, "site": sub.site, "accelerators": 1,
				"start": fmt.Sprintf("now+%dhours", 3+2*j), "duration": "60", "projects": []string{sub.project}})
			dst[i] = name
		}
	}

	// Calls: a fast-lane one open (acme's proposals), a playground one
	// open (beta's), a draft, and two spares whose state the matrix changes.
	call := func(mode, state string) string {
		var c struct {
			ID string `json:"id"`
		}
		s.mustDo(201, w.tokens[pAlloc], "POST", "/api/v1/calls", map[string]any{"title": "matrix " + mode, "mode": mode, "state": state,
			"models": []string{"h100"}, "total_hours": 5000, "kinds": []string{"startup", "research", "sme"}}).decode(t, &c)
		return c.ID
	}
	fast, play := call("fast-lane", "open"), call("playground", "open")
	w.callView = [2]string{fast, call("fast-lane", "draft")}
	w.callState = [2]string{call("fast-lane", "draft"), call("fast-lane", "open")}
	propose := func(token, callID, project string, submit bool) string {
		var p struct {
			ID string `json:"id"`
		}
		s.mustDo(201, token, "POST", "/api/v1/proposals", map[string]any{"call": callID, "project": project, "title": "matrix", "hours": map[string]float64{"h100": 100},
			"start": time.Now().Add(-time.Hour), "end": time.Now().Add(90 * 24 * time.Hour), "submit": submit}).decode(t, &p)
		return p.ID
	}
	alloc := w.tokens[pAlloc]
	a1, a2 := propose(w.tokens[pPI], fast, "rocket", true), propose(w.tokens[pPI], fast, "rocket", true)
	for _, id := range []string{a1, a2} {
		s.mustDo(201, alloc, "POST", "/api/v1/proposals/"+id+"/reviewers", map[string]string{"reviewer": "rev"})
	}
	s.mustDo(200, w.tokens[pRev], "POST", "/api/v1/proposals/"+a1+"/review", map[string]any{"technical": 4, "comments": "sound"})
	s.mustDo(201, alloc, "POST", "/api/v1/proposals/"+a1+"/award", map[string]any{"hours": map[string]float64{"h100": 100}})
	b1 := propose(bpi, play, "probe", true)
	s.mustDo(201, alloc, "POST", "/api/v1/proposals/"+b1+"/award", map[string]any{"hours": map[string]float64{"h100": 100}})
	w.propView = [2]string{a1, b1}
	w.propReview = [2]string{a2, b1}
	w.propChange = [2]string{propose(w.tokens[pPI], fast, "rocket", false), propose(bpi, play, "probe", false)}

	// What each principal's 2xx answers may not name.
	aNames := `\b(acme|rocket|alice|carol|pia|dora2?|ajob|` + strings.Join([]string{a1, a2, w.propChange[0]}, "|") + `)\b`
	bNames := `\b(beta|probe|bob|bella|bpi|dan2?|bjob|` + strings.Join([]string{b1, w.propChange[1]}, "|") + `)\b`
	w.hides = map[string]*regexp.Regexp{
		pPI: regexp.MustCompile(bNames), pMem: regexp.MustCompile(bNames), pRev: regexp.MustCompile(bNames),
		pOp:  regexp.MustCompile(bNames), // sitey's jobs are beta's
		pOAB: regexp.MustCompile(aNames), pUserB: regexp.MustCompile(aNames),
	}
	if d := time.Until(soon); d > 0 {
		time.Sleep(d + 10*time.Millisecond) // the expiring token has expired
	}
	return w
}

// fill returns the path and body that ask route (method path) about side
// (0: tenant A, 1: B).
func (w *world) fill(method, path string, side int) (string, any, error) {
	w.n++
	name := fmt.Sprintf("m%d", w.n)
	project, org, site := [2]string{"rocket", "probe"}[side], [2]string{"acme", "beta"}[side], [2]string{"sitex", "sitey"}[side]
	var id string
	switch {
	case strings.HasPrefix(path, "/api/v1/jobs/{id}"):
		id = w.job[side]
		if method == "DELETE" {
			id = w.jobDel[side]
		} else if method == "POST" {
			id = w.jobCancel[side]
		}
	case strings.HasPrefix(path, "/api/v1/sites/{id}"):
		id = site
	case strings.HasPrefix(path, "/api/v1/tokens/{id}"):
		id = w.token[side]
	case strings.HasPrefix(path, "/api/v1/calls/{id}"):
		id = w.callView[side]
		if method == "POST" {
			id = w.callState[side]
		}
	case strings.HasPrefix(path, "/api/v1/proposals/{id}"):
		id = w.propView[side]
		switch {
		case strings.HasSuffix(path, "/review"):
			id = w.propReview[side]
		case method == "POST":
			id = w.propChange[side]
		}
	case strings.HasPrefix(path, "/api/v1/awards/{id}"):
		id = w.propView[side] // an award's id is its proposal's
	case strings.HasPrefix(path, "/api/v1/reservations/{id}"):
		id = w.resv[side]
		if method == "DELETE" {
			id = w.resvDel[side]
		}
	case strings.HasPrefix(path, "/api/v1/ai-act/models/{id}"):
		id = [2]string{"ajob-llm", "bjob-llm"}[side] // the model its jobs train
	}
	named := project
	switch {
	case strings.HasPrefix(path, "/api/v1/users/"):
		named = [2]string{"carol", "bob"}[side] // acme's org-admin; bob himself
	case strings.HasPrefix(path, "/api/v1/orgs/"):
		named = org
	}
	filled := strings.NewReplacer("{id}", id, "{action}", "drain", "{name}", named, "{user}", [2]string{"dora", "dan"}[side]).Replace(path)
	if strings.Contains(filled, "{") || strings.Contains(filled, "//") {
		return "", nil, fmt.Errorf("no object fills %s %s", method, path)
	}
	job := map[string]any{"name": name, "project": project, "site": site, "command": []string{"true"}}
	bodies := map[string]any{
		"POST /api/v1/orgs":                    map[string]any{"name": name, "kind": "sme", "country": "DE"},
		"POST /api/v1/projects":                map[string]any{"name": name, "org": org},
		"POST /api/v1/users":                   map[string]any{"name": name, "org": org, "role": "user"},
		"POST /api/v1/projects/{name}/members": map[string]any{"user": [2]string{"dora2", "dan2"}[side], "role": "member"},
		"POST /api/v1/jobs":                    job,
		"POST /api/v1/jobs:batch":              map[string]any{"jobs": []any{job}},
		"POST /api/v1/jobs:cancel":             map[string]any{"ids": []json.Number{json.Number(w.jobCancel[side])}},
		"POST /api/v1/tokens":                  map[string]any{"label": name},
		"POST /api/v1/calls":                   map[string]any{"title": name, "mode": "fast-lane", "models": []string{"h100"}, "total_hours": 1000},
		"POST /api/v1/proposals": map[string]any{"call": w.callView[0], "project": project, "title": name, "hours": map[string]float64{"h100": 10},
			"start": time.Now(), "end": time.Now().Add(30 * 24 * time.Hour)},
		"POST /api/v1/proposals/{id}/reject":    map[string]any{"reason": name},
		"POST /api/v1/proposals/{id}/reviewers": map[string]any{"reviewer": "rev"},
		"POST /api/v1/proposals/{id}/review":    map[string]any{"technical": 3, "comments": name},
		"POST /api/v1/proposals/{id}/award":     map[string]any{"hours": map[string]float64{"h100": 10}},
		"POST /api/v1/conflicts":                map[string]any{"org": "someone", "reason": name},
		"POST /api/v1/awards/{id}/extend":       map[string]any{"valid_to": time.Now().Add(time.Duration(100+w.n) * 24 * time.Hour)},
		"POST /api/v1/reservations":             map[string]any{"site": site, "accelerators": 1, "start": "now+9hours", "duration": "60", "projects": []string{project}},
	}
	return filled, bodies[method+" "+path], nil
}

// routesOf reads the server's routes from its OpenAPI document.
func routesOf(t *testing.T, s *server) []string {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	s.mustDo(200, "", "GET", "/api/v1/openapi.json", nil).decode(t, &doc)
	var out []string
	for p, ops := range doc.Paths {
		for m := range ops {
			switch m = strings.ToUpper(m); m {
			case "GET", "POST", "PUT", "PATCH", "DELETE":
				out = append(out, m+" "+p)
			}
		}
	}
	// Reads first, so that no mutation changes what they see; then the
	// mutations in path order.
	slices.SortFunc(out, func(x, y string) int {
		if rx, ry := strings.HasPrefix(x, "GET "), strings.HasPrefix(y, "GET "); rx != ry {
			if rx {
				return -1
			}
			return 1
		}
		return strings.Compare(x[strings.Index(x, " "):], y[strings.Index(y, " "):])
	})
	return out
}

func TestRoleMatrix(t *testing.T) {
	s := startServer(t, serverOptions{config: twoSites})
	w := newWorld(t, s)
	start := time.Now()
	routes := routesOf(t, s)
	for r := range matrix {
		if !slices.Contains(routes, r) {
			t.Errorf("the matrix has a row for %s, which the server does not register", r)
		}
	}
	var asks, grantedOK, grantedState, refused int
	for _, r := range routes {
		g, ok := matrix[r]
		if !ok {
			t.Errorf("%s has no row in the matrix: say who may call it", r)
			continue
		}
		method, path, _ := strings.Cut(r, " ")
		sides := 1
		if g.b != "" {
			sides = 2
		}
		for side := range sides {
			done := false // a granted caller changed the object already
			for _, p := range principalOrder {
				filled, body, err := w.fill(method, path, side)
				if err != nil {
					t.Error(err)
					break
				}
				a := s.ask(w.tokens[p], method, filled, body)
				asks++
				allowed := granted(g, side == 1, p)
				what := fmt.Sprintf("%s %s as %s (%s)", method, filled, p, [2]string{"tenant A", "tenant B"}[side])
				mutation := method != "GET"
				switch {
				case a.status >= 500:
					t.Errorf("%s: %s", what, a)
				case g.a == public:
					if a.status != 200 && !(path == "/readyz" && a.status == 503) {
						t.Errorf("%s: a public route answered %s", what, a)
					}
				case p == pNone || p == pExpired || p == pRevoked:
					if a.status != 401 {
						t.Errorf("%s: want 401, got %s", what, a)
					}
				case p == pRead && mutation, p == pSubmit && mutation && !slices.Contains(submitScope, r):
					if a.status != 403 {
						t.Errorf("%s: a mutation beyond the token's scope: want 403, got %s", what, a)
					}
				case allowed && a.status/100 == 2:
					grantedOK++
					done = done || mutation
				case allowed && mutation && (a.status == 409 || a.status == 422 || done && a.status == 404):
					grantedState++ // granted; the object's state (or an earlier caller, who removed it) decided
					t.Logf("%s: granted, refused by state: %d", what, a.status)
				case allowed:
					t.Errorf("%s: granted, want 2xx, got %s", what, a)
				case a.status/100 == 2:
					t.Errorf("%s: NOT granted, got %s", what, a)
				case a.status == 401 || a.status == 403 || a.status == 404:
					refused++
				case a.status == 422 && bodyRefs[r] != "" && strings.Contains(string(a.body), `"field":"`) && strings.Contains(string(a.body), bodyRefs[r]):
					refused++ // the body names an object the caller may not see: as unknown
				default:
					t.Errorf("%s: not granted, want 401, 403 or 404, got %s", what, a)
				}
				if re := w.hides[p]; re != nil && a.status/100 == 2 {
					if m := re.Find(a.body); m != nil {
						t.Errorf("%s: the answer names the other tenant's %q: %s", what, m, a)
					}
				}
			}
		}
	}
	t.Logf("matrix: %d routes x %d principals (two tenants' objects where a route names one): %d requests in %v; granted and done %d, granted and answered 404, 409 or 422 by the object's state %d, refused %d",
		len(routes), len(principalOrder), asks, time.Since(start).Round(time.Millisecond), grantedOK, grantedState, refused)
}

// ask is do that waits out the rate limit (429) and tries again.
func (s *server) ask(token, method, path string, body any) answer {
	s.t.Helper()
	for range 20 {
		a := s.do(token, method, path, body)
		if a.status != 429 {
			return a
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.t.Fatalf("%s %s: still 429 after 10 s", method, path)
	return answer{}
}
