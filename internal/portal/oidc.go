package portal

import "net/http"

// oidcRoutes registers the federated login's routes (none while
// Options.OIDC is nil).
func (p *Portal) oidcRoutes(mux *http.ServeMux) {
	if p.opt.OIDC == nil {
		return
	}
}
