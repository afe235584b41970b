package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
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
		if errors.As(err, &te) && te.Field != "" {
			return invalidField(te.Field, "want %s, got %s", te.Type, te.Value)
		}
		if te != nil {
			// The body as a whole is of the wrong kind: no field to name.
			return badRequest("want a JSON object, got %s", te.Value)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			if len(f) > 64 {
				f = f[:64] + "..."
			}
			return invalidField(f, "unknown field")
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
	// The entry commits with the organisation (CreateOrg's transaction).
	actx := s.auditCtx(ctx, "org.create", "org/"+o.Name, "kind "+o.Kind+", country "+o.Country)
	if err := s.st.CreateOrg(actx, o); errors.Is(err, store.ErrExists) {
		return exists("organisation %q already exists", o.Name)
	} else if err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	if err := s.d.OrgChanged(ctx, o); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, o)
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	var os []core.Org
	if isAdmin(u) {
		var err error
		if os, err = s.st.ListOrgs(ctx); err != nil {
			return err
		}
	} else if u.Org != "" {
		// Everyone else sees their own organisation only.
		o, err := s.st.GetOrg(ctx, u.Org)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil {
			os = []core.Org{o}
		}
	}
	if os == nil {
		os = []core.Org{}
	}
	return writeJSON(w, http.StatusOK, list[core.Org]{Items: os})
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !member(userFrom(r.Context()), name) {
		return notFound("no organisation %q", name) // do not reveal others
	}
	o, err := s.st.GetOrg(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no organisation %q", name)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	if !administers(u) {
		return forbidden("user %s may not create projects: administrators only", u.Name)
	}
	var p core.Project
	if err := decodeStrict(r, &p); err != nil {
		return err
	}
	if err := checkName("name", p.Name); err != nil {
		return err
	}
	if err := checkText("description", p.Description, maxDescription, true); err != nil {
		return err
	}
	if p.BudgetAccelHrs < 0 || math.IsInf(p.BudgetAccelHrs, 0) {
		return invalidField("budget_accelerator_hours", "must not be negative, got %g", p.BudgetAccelHrs)
	}
	if p.Org == "" && !isAdmin(u) {
		p.Org = u.Org
	}
	if p.Org == "" {
		return invalidField("org", "required")
	}
	if !manages(u, p.Org) {
		// Checked before the organisation is looked up, so the answer is
		// the same whether or not it exists.
		return forbidden("user %s may create projects in organisation %s only", u.Name, u.Org)
	}
	if _, err := s.st.GetOrg(ctx, p.Org); errors.Is(err, store.ErrNotFound) {
		return invalidField("org", "unknown organisation %q", p.Org)
	}
	p.CreatedAt = time.Now().UTC()
	// The entry commits with the project (CreateProject's transaction).
	actx := s.auditCtx(ctx, "project.create", "project/"+p.Name, "org "+p.Org)
	if err := s.st.CreateProject(actx, p); errors.Is(err, store.ErrExists) {
		return exists("project %q already exists", p.Name)
	} else if errors.Is(err, store.ErrNotFound) {
		return invalidField("org", "unknown organisation %q", p.Org)
	} else if err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	if err := s.d.ProjectChanged(ctx, p); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	org := r.URL.Query().Get("org")
	if err := checkText("org", org, maxQueryValue, false); err != nil {
		return err
	}
	if !isAdmin(u) {
		if org != "" && org != u.Org {
			return notFound("no organisation %q", org)
		}
		if u.Org == "" {
			return writeJSON(w, http.StatusOK, list[core.Project]{Items: []core.Project{}})
		}
		org = u.Org
	}
	ps, err := s.st.ListProjects(ctx, org)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []core.Project{}
	}
	return writeJSON(w, http.StatusOK, list[core.Project]{Items: ps})
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	p, err := s.st.GetProject(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) || err == nil && !member(userFrom(r.Context()), p.Org) {
		return notFound("no project %q", name)
	}
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
	me := userFrom(ctx)
	if !administers(me) {
		return forbidden("user %s may not create users: administrators only", me.Name)
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
	if err := canGrantRole(me, u.Role); err != nil {
		return err
	}
	switch u.Kind {
	case "", core.UserPerson:
		u.Kind = core.UserPerson
	case core.UserService:
		// A pipeline's account holds no administrator's role.
		if u.Role == core.RoleAdmin || u.Role == core.RoleOrgAdmin {
			return invalidField("role", "a service account may not be %s", u.Role)
		}
	default:
		return invalidField("kind", "want person or service, got %.32q", u.Kind)
	}
	if u.Org == "" && !isAdmin(me) {
		u.Org = me.Org
	}
	if u.Role == core.RoleOrgAdmin && u.Org == "" {
		return invalidField("org", "required for role org-admin")
	}
	if err := s.checkOperatorSites(u); err != nil {
		return err
	}
	if !isAdmin(me) && !manages(me, u.Org) {
		return forbidden("user %s may create users in organisation %s only", me.Name, me.Org)
	}
	if u.Org != "" {
		if _, err := s.st.GetOrg(ctx, u.Org); errors.Is(err, store.ErrNotFound) {
			return invalidField("org", "unknown organisation %q", u.Org)
		}
	}
	if u.Email != "" {
		if err := checkEmail(u.Email); err != nil {
			return err
		}
	}
	u.CreatedAt = time.Now().UTC()
	// The entry commits with the user (CreateUser's transaction).
	actx := s.auditCtx(ctx, "user.create", "user/"+u.Name, "role "+u.Role+", org "+u.Org+sitesDetail(u.Sites))
	if err := s.st.CreateUser(actx, u); errors.Is(err, store.ErrExists) {
		return exists("user %q already exists", u.Name)
	} else if err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	tok, hash := NewToken()
	if err := s.st.CreateToken(ctx, u.Name, hash, "created with the user"); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, userWithToken{User: u, Token: tok})
}

// sitesDetail is an operator's sites for the audit log.
func sitesDetail(sites []string) string {
	if len(sites) == 0 {
		return ""
	}
	return ", sites " + strings.Join(sites, ",")
}

// checkOperatorSites refuses (422, naming sites or org) an operator
// without sites, with a site that does not exist, or in an organisation
// (an operator runs sites, not an organisation's work), and sites given
// to any other role.
func (s *Server) checkOperatorSites(u core.User) error {
	if u.Role != core.RoleOperator {
		if len(u.Sites) > 0 {
			return invalidField("sites", "only an operator has sites, not a %s", u.Role)
		}
		return nil
	}
	if u.Org != "" {
		return invalidField("org", "an operator runs sites and belongs to no organisation, got %.64q", u.Org)
	}
	if len(u.Sites) == 0 {
		return invalidField("sites", "required for role operator: the sites they run")
	}
	for i, id := range u.Sites {
		if !s.siteExists(id) {
			return invalidField(fmt.Sprintf("sites[%d]", i), "unknown site %.64q", id)
		}
		if slices.Contains(u.Sites[:i], id) {
			return invalidField(fmt.Sprintf("sites[%d]", i), "site %s named twice", id)
		}
	}
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	me := userFrom(r.Context())
	if !isAdmin(me) && !manages(me, me.Org) {
		return forbidden("user %s may not list users: administrators only", me.Name)
	}
	us, err := s.st.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := []core.User{}
	for _, u := range us {
		if isAdmin(me) || u.Org == me.Org {
			out = append(out, u)
		}
	}
	return writeJSON(w, http.StatusOK, list[core.User]{Items: out})
}

// visibleUser returns the user called name if me may see them: oneself;
// a global admin anyone; an org-admin their organisation's users. Anyone
// else is as unknown as a missing user.
func (s *Server) visibleUser(ctx context.Context, me core.User, name string) (core.User, error) {
	if name == me.Name {
		return me, nil
	}
	u, err := s.st.GetUser(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && !isAdmin(me) && !manages(me, u.Org) {
		return core.User{}, notFound("no user %q", name)
	}
	return u, err
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	me := userFrom(r.Context())
	name := r.PathValue("name")
	if name == "me" {
		name = me.Name
	}
	u, err := s.visibleUser(r.Context(), me, name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) listSites(w http.ResponseWriter, r *http.Request) error {
	sites := s.d.Sites()
	loads, err := s.d.Loads(r.Context(), false)
	if err != nil {
		return err
	}
	out := make([]core.Site, len(sites))
	for i, st := range sites {
		st.Accelerators = st.Totals()
		st.Load = loads[st.ID]
		out[i] = withModelAliases(st)
	}
	return writeJSON(w, http.StatusOK, list[core.Site]{Items: out})
}

func (s *Server) getSite(w http.ResponseWriter, r *http.Request) error {
	for _, st := range s.d.Sites() {
		if st.ID == r.PathValue("id") {
			loads, err := s.d.Loads(r.Context(), true)
			if err != nil {
				return err
			}
			st.Accelerators = st.Totals()
			st.Load = loads[st.ID]
			return writeJSON(w, http.StatusOK, withModelAliases(st))
		}
	}
	return notFound("no site %q", r.PathValue("id"))
}

func (s *Server) siteAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, action := r.PathValue("id"), r.PathValue("action")
	if err := requireOperator(userFrom(ctx), id); err != nil {
		return err
	}
	state, ok := map[string]string{"drain": core.SiteDraining, "resume": core.SiteActive, "down": core.SiteDown}[action]
	if !ok {
		return invalidField("action", "want drain, resume or down; got %q", action)
	}
	if !s.siteExists(id) {
		return notFound("no site %q", id)
	}
	// The entry commits with the site's new state (SetSiteState's write).
	actx := s.auditCtx(ctx, "site."+action, "site/"+id, "state "+state)
	site, err := s.d.SetSiteState(actx, id, state)
	if err != nil {
		return err
	}
	if err := s.auditIfNotWritten(actx); err != nil {
		return err
	}
	site.Accelerators = site.Totals()
	return writeJSON(w, http.StatusOK, site)
}
