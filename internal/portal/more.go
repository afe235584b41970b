package portal

import "net/http"

// moreViews registers the access, usage, AI Act, audit and twin views
// (access.go, usage.go, aiact.go, audit.go, twin.go).
func (p *Portal) moreViews(get, post func(string, func(http.ResponseWriter, *http.Request))) {
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
