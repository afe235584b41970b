package api

import (
	"slices"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Authorisation: the one place the API decides what a role may do (issue
// 14, item 5). Handlers authenticate (auth.go), then ask these questions;
// none of them looks at a role itself. The roles:
//
//	role       | may                                                   | sees
//	-----------+-------------------------------------------------------+------------------------------------------
//	admin      | anything                                              | everything
//	operator   | drain, resume, take down their sites (User.Sites);    | sites; the jobs placed at their sites
//	           | cancel the jobs placed at them                        |
//	allocator  | calls (create, open, close), rankings, reviewers,     | every proposal, review and award; drafts
//	           | awards and extensions, rejections                     | of calls; projects' members
//	reviewer   | review the proposals assigned to them; declare        | those proposals (their own review only)
//	           | conflicts                                             |
//	org-admin  | their organisation's projects, users, tokens, jobs;   | their organisation
//	           | a project's PIs and members                           |
//	user       | submit to their organisation's projects; cancel their | their organisation (projects, jobs)
//	           | own jobs; their own tokens                            |
//
// and, within a project (core.Membership): its PI writes, submits and
// withdraws its proposals and adds and removes its members; its members
// see its proposals and awards. Token scopes (checkScope) narrow a role,
// never widen it. What a role may not see answers 404, as a missing object
// does; what it may see but not do answers 403.

// isAdmin reports whether u is a global administrator.
func isAdmin(u core.User) bool { return u.Role == core.RoleAdmin }

// member reports whether u may see organisation org and what is in it.
func member(u core.User, org string) bool {
	return isAdmin(u) || org != "" && u.Org == org
}

// manages reports whether u administers organisation org.
func manages(u core.User, org string) bool {
	return isAdmin(u) || u.Role == core.RoleOrgAdmin && org != "" && u.Org == org
}

// administers reports whether u administers users and projects: a
// global administrator, or an org-admin (in their organisation: manages).
func administers(u core.User) bool { return isAdmin(u) || u.Role == core.RoleOrgAdmin }

func requireAdmin(u core.User) error {
	if !isAdmin(u) {
		return forbidden("user %s may not do this: administrators only", u.Name)
	}
	return nil
}

// operates reports whether u runs site: a global administrator, or an
// operator whose sites name it.
func operates(u core.User, site string) bool {
	return isAdmin(u) || u.Role == core.RoleOperator && site != "" && slices.Contains(u.Sites, site)
}

// requireOperator refuses (403) a site action by anyone but the site's
// operators and global administrators.
func requireOperator(u core.User, site string) error {
	if !operates(u, site) {
		return forbidden("user %s may not change site %s: its operators and global administrators only", u.Name, site)
	}
	return nil
}

// isAllocator reports whether u manages calls and awards.
func isAllocator(u core.User) bool { return isAdmin(u) || u.Role == core.RoleAllocator }

func requireAllocator(u core.User) error {
	if !isAllocator(u) {
		return forbidden("user %s may not do this: allocators only", u.Name)
	}
	return nil
}

// isReviewer reports whether u may review proposals and declare conflicts.
func isReviewer(u core.User) bool { return isAdmin(u) || u.Role == core.RoleReviewer }

// canSeeJob reports whether u may see job j (its record, events,
// explanation and output): its organisation, and the operators of the
// site it was placed at.
func canSeeJob(u core.User, j core.Job) bool {
	return member(u, j.Org) || operates(u, j.Site)
}

// canCancelJob reports whether u may cancel job j: its user, an
// administrator of its organisation, an operator of its site.
func canCancelJob(u core.User, j core.Job) bool {
	return u.Name == j.User || manages(u, j.Org) || operates(u, j.Site)
}

// jobScope is which jobs a listing shows u: all (a global
// administrator), or those of org and those placed at sites. An empty
// scope shows nothing.
type jobScope struct {
	all   bool
	org   string
	sites []string
}

func jobsVisible(u core.User) jobScope {
	if isAdmin(u) {
		return jobScope{all: true}
	}
	sc := jobScope{org: u.Org}
	if u.Role == core.RoleOperator {
		sc.sites = u.Sites
	}
	return sc
}

// canManageMembers reports whether u, whose role in project p is myRole,
// may add or remove a role there: global admins and the project's
// organisation's org-admins add PIs and members; a PI adds members.
func canManageMembers(u core.User, p core.Project, myRole, role string) bool {
	if manages(u, p.Org) {
		return true
	}
	return myRole == core.ProjectPI && role == core.ProjectMember
}

// canGrantRole refuses (403) me giving a new user role in organisation
// org, or (422) a role that does not exist: an org-admin makes users and
// org-admins of their organisation; the roles that act across
// organisations (admin, operator, allocator, reviewer) only a global
// administrator grants.
func canGrantRole(me core.User, role string) error {
	switch role {
	case core.RoleUser, core.RoleOrgAdmin:
		return nil
	case core.RoleAdmin:
		if !isAdmin(me) {
			return forbidden("user %s may not create global administrators", me.Name)
		}
		return nil
	case core.RoleOperator, core.RoleAllocator, core.RoleReviewer:
		if !isAdmin(me) {
			return forbidden("user %s may not create %ss: global administrators only", me.Name, role)
		}
		return nil
	}
	return invalidField("role", "want user, org-admin, admin, operator, allocator or reviewer, got %.64q", role)
}
