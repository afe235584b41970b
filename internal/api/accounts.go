package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
	"github.com/gigafactory/gigafactory/internal/store"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// decodeStrict decodes a JSON body into v, refusing unknown fields, and
// names the offending field on a type error.
func decodeStrict(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalidField(te.Field, "want %s, got %s", te.Type, te.Value)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return invalidField(strings.Trim(f, `"`), "unknown field")
		}
		return badRequest("invalid JSON body: %v", err)
	}
	return nil
}

func checkName(field, v string) error {
	if !nameRE.MatchString(v) {
		return invalidField(field, "want 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit; got %q", v)
	}
	return nil
}

func (s *Server) createOrg(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := requireAdmin(userFrom(ctx)); err != nil {
		return err
	}
	var o core.Org
	if err := decodeStrict(r, &o); err != nil {
		return err
	}
	if err := checkName("name", o.Name); err != nil {
		return err
	}
	if !core.ValidOrgKind(o.Kind) {
		return invalidField("kind", "want research, sme, startup, industry or public; got %q", o.Kind)
	}
	c, ok := spec.NormalizeCountry(o.Country)
	if !ok {
		return invalidField("country", "want an ISO 3166-1 alpha-2 code such as DE; got %q", o.Country)
	}
	o.Country = c
	o.CreatedAt = time.Now().UTC()
	if err := s.st.CreateOrg(ctx, o); err != nil {
		return err
	}
	if err := s.audit(ctx, "org.create", "org/"+o.Name, "kind "+o.Kind+", country "+o.Country); err != nil {
		return err
	}
	if err := s.d.OrgChanged(ctx, o); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, o)
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) error {
	os, err := s.st.ListOrgs(r.Context())
	if err != nil {
		return err
	}
	if os == nil {
		os = []core.Org{}
	}
	return writeJSON(w, http.StatusOK, list[core.Org]{Items: os})
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) error {
	o, err := s.st.GetOrg(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := requireAdmin(userFrom(ctx)); err != nil {
		return err
	}
	var p core.Project
	if err := decodeStrict(r, &p); err != nil {
		return err
	}
	if err := checkName("name", p.Name); err != nil {
		return err
	}
	if p.BudgetAccelHrs < 0 {
		return invalidField("budget_accelerator_hours", "must not be negative, got %g", p.BudgetAccelHrs)
	}
	if p.Org == "" {
		return invalidField("org", "required")
	}
	if _, err := s.st.GetOrg(ctx, p.Org); errors.Is(err, store.ErrNotFound) {
		return invalidField("org", "unknown organisation %q", p.Org)
	}
	p.CreatedAt = time.Now().UTC()
	if err := s.st.CreateProject(ctx, p); err != nil {
		return err
	}
	if err := s.audit(ctx, "project.create", "project/"+p.Name, "org "+p.Org); err != nil {
		return err
	}
	if err := s.d.ProjectChanged(ctx, p); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.st.ListProjects(r.Context(), r.URL.Query().Get("org"))
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []core.Project{}
	}
	return writeJSON(w, http.StatusOK, list[core.Project]{Items: ps})
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.st.GetProject(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// userWithToken is the answer to a user's creation: the token is shown once.
type userWithToken struct {
	User  core.User `json:"user"`
	Token string    `json:"token"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := requireAdmin(userFrom(ctx)); err != nil {
		return err
	}
	var u core.User
	if err := decodeStrict(r, &u); err != nil {
		return err
	}
	if err := checkName("name", u.Name); err != nil {
		return err
	}
	if u.Role == "" {
		u.Role = core.RoleUser
	}
	if u.Role != core.RoleUser && u.Role != core.RoleAdmin {
		return invalidField("role", "want user or admin, got %q", u.Role)
	}
	if u.Org != "" {
		if _, err := s.st.GetOrg(ctx, u.Org); errors.Is(err, store.ErrNotFound) {
			return invalidField("org", "unknown organisation %q", u.Org)
		}
	}
	if u.Email != "" && !strings.Contains(u.Email, "@") {
		return invalidField("email", "not an e-mail address: %q", u.Email)
	}
	u.CreatedAt = time.Now().UTC()
	if err := s.st.CreateUser(ctx, u); err != nil {
		return err
	}
	tok, hash := NewToken()
	if err := s.st.CreateToken(ctx, u.Name, hash, "created with the user"); err != nil {
		return err
	}
	if err := s.audit(ctx, "user.create", "user/"+u.Name, "role "+u.Role+", org "+u.Org); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, userWithToken{User: u, Token: tok})
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(userFrom(r.Context())); err != nil {
		return err
	}
	us, err := s.st.ListUsers(r.Context())
	if err != nil {
		return err
	}
	if us == nil {
		us = []core.User{}
	}
	return writeJSON(w, http.StatusOK, list[core.User]{Items: us})
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	me := userFrom(r.Context())
	name := r.PathValue("name")
	if name == "me" {
		name = me.Name
	}
	if me.Role != core.RoleAdmin && name != me.Name {
		return forbidden("user %s may only read their own user", me.Name)
	}
	u, err := s.st.GetUser(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) listSites(w http.ResponseWriter, r *http.Request) error {
	sites := s.d.Sites()
	out := make([]core.Site, len(sites))
	for i, st := range sites {
		st.Accelerators = st.Totals()
		out[i] = st
	}
	return writeJSON(w, http.StatusOK, list[core.Site]{Items: out})
}

func (s *Server) getSite(w http.ResponseWriter, r *http.Request) error {
	for _, st := range s.d.Sites() {
		if st.ID == r.PathValue("id") {
			st.Accelerators = st.Totals()
			return writeJSON(w, http.StatusOK, st)
		}
	}
	return notFound("no site %q", r.PathValue("id"))
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := requireAdmin(userFrom(ctx)); err != nil {
		return err
	}
	q := r.URL.Query()
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return invalidField("after", "want a sequence number >= 0, got %q", v)
		}
		after = n
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return invalidField("limit", "want a whole number from 1 to 1000, got %q", v)
		}
		limit = n
	}
	if q.Get("verify") == "true" {
		n, err := s.st.VerifyAudit(ctx)
		if err != nil {
			return writeJSON(w, http.StatusOK, map[string]any{"verified": false, "checked": n, "error": err.Error()})
		}
		return writeJSON(w, http.StatusOK, map[string]any{"verified": true, "checked": n})
	}
	es, err := s.st.ListAudit(ctx, after, limit)
	if err != nil {
		return err
	}
	if es == nil {
		es = []store.AuditEntry{}
	}
	return writeJSON(w, http.StatusOK, list[store.AuditEntry]{Items: es})
}

func (s *Server) siteAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := requireAdmin(userFrom(ctx)); err != nil {
		return err
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	state, ok := map[string]string{"drain": core.SiteDraining, "resume": core.SiteActive, "down": core.SiteDown}[action]
	if !ok {
		return invalidField("action", "want drain, resume or down; got %q", action)
	}
	if !s.siteExists(id) {
		return notFound("no site %q", id)
	}
	if err := s.audit(ctx, "site."+action, "site/"+id, "state "+state); err != nil {
		return err
	}
	site, err := s.d.SetSiteState(ctx, id, state)
	if err != nil {
		return err
	}
	site.Accelerators = site.Totals()
	return writeJSON(w, http.StatusOK, site)
}
