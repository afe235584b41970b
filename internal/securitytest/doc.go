// Package securitytest attacks a real `gf serve` the way a tenant with an
// ordinary member's token would, and checks that the tenant boundary holds:
// job paths cannot escape, logs serve only a job's own files, a job cannot
// read the data directory, one tenant's broken job cannot take a site from
// the others, oversize input is refused with bounded memory, organisations
// and projects stay private, revoked tokens stop at once, slow clients are
// cut off, and a job that fits starts without waiting for a re-prioritisation.
// TestRoleMatrix walks every route of the server's OpenAPI document as every
// role (and no token, an expired, a revoked and narrow-scope tokens) against
// two tenants' objects: each answer is what its table grants, or 401/403/404,
// and never names the other tenant's objects.
//
// The package has no code of its own: everything is in its tests, which
// build the gf binary once and run it as a separate process on loopback.
// See docs/SECURITY.md for the threat model the tests check.
package securitytest
