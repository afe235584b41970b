package local

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/jobpath"
)

// Landlock modes (Options.Landlock).
const (
	LandlockAuto     = "auto"     // restrict jobs where the kernel has Landlock
	LandlockRequired = "required" // refuse to run jobs without it
	LandlockOff      = "off"      // never restrict
)

// DefaultRunAs is the account jobs run as, when the server runs as root,
// for users that UserMap does not map.
const DefaultRunAs = "nobody"

// sameUser, as a UserMap value, maps a gf user to the Unix account of the
// same name; the key "*" applies to users not listed.
const (
	sameUser    = "same"
	anyUserKey  = "*"
	landlockABI = 6 // what LandlockRequired requires: truncate, device ioctls, signal and socket scopes
)

// OptionsFromSite reads a local site's driver_options into Options, with
// the driver's files under dataDir/sites/SITE. The keys:
//
//	allowed_roots  directories (colon- or comma-separated) where jobs may
//	               put their workdir, output and error files, beside their
//	               own job directory; none may contain dataDir or lie in it
//	run_as         Unix account for jobs when gf runs as root (default nobody)
//	user_map       gf user to Unix account, "alice=alice,bob=b123"; "same"
//	               maps every user to the account of the same name, and
//	               "*=same" or "*=acct" does so for unlisted users
//	landlock       auto (default), required or off
//
// An unknown key is an error naming it.
func OptionsFromSite(site core.Site, dataDir string) (Options, error) {
	opts := Options{Dir: filepath.Join(dataDir, "sites", site.ID)}
	keys := make([]string, 0, len(site.DriverOptions))
	for k := range site.DriverOptions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := site.DriverOptions[k]
		switch k {
		case "allowed_roots":
			roots, err := jobpath.ParseRoots(v)
			if err != nil {
				return Options{}, fmt.Errorf("driver_options.allowed_roots: %w", err)
			}
			opts.AllowedRoots = roots
		case "run_as":
			opts.RunAs = strings.TrimSpace(v)
		case "user_map":
			m, err := parseUserMap(v)
			if err != nil {
				return Options{}, fmt.Errorf("driver_options.user_map: %w", err)
			}
			opts.UserMap = m
		case "landlock":
			opts.Landlock = strings.TrimSpace(v)
		default:
			return Options{}, fmt.Errorf("driver_options.%s: unknown option of the local driver (want allowed_roots, run_as, user_map, landlock)", k)
		}
	}
	if err := checkLandlockMode(opts.Landlock); err != nil {
		return Options{}, fmt.Errorf("driver_options.landlock: %w", err)
	}
	if err := checkRoots(opts.AllowedRoots, dataDir); err != nil {
		return Options{}, fmt.Errorf("driver_options.allowed_roots: %w", err)
	}
	return opts, nil
}

// parseUserMap reads "alice=alice,bob=b123" or "same".
func parseUserMap(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == sameUser {
		return map[string]string{anyUserKey: sameUser}, nil
	}
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q is not user=account", pair)
		}
		m[k] = v
	}
	return m, nil
}

func checkLandlockMode(m string) error {
	switch m {
	case "", LandlockAuto, LandlockRequired, LandlockOff:
		return nil
	}
	return fmt.Errorf("%q: want auto, required or off", m)
}

// checkRoots refuses a root that holds dir or lies inside it: a job could
// then reach the server's files through it. Both are compared with their
// symlinks resolved, where they exist.
func checkRoots(roots []string, dir string) error {
	if dir == "" {
		return nil
	}
	d := resolved(dir)
	for _, r := range roots {
		rr := resolved(r)
		if _, _, in := jobpath.Within(d, []string{rr}); in {
			return fmt.Errorf("%s contains the data directory %s", r, dir)
		}
		if _, _, in := jobpath.Within(rr, []string{d}); in {
			return fmt.Errorf("%s lies inside the data directory %s", r, dir)
		}
	}
	return nil
}

// resolved is p absolute with its symlinks resolved, as far as it exists.
func resolved(p string) string {
	p, _ = filepath.Abs(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// account is the Unix identity a job runs as.
type account struct {
	name   string
	uid    int
	gid    int
	groups []int
	home   string
}

// account finds whom job runs as: nil when the server is not root (jobs
// run as the server's own user), else the mapped or RunAs account.
func (d *Driver) account(job core.Job) (*account, error) {
	if !d.root {
		return nil, nil
	}
	name := d.opts.RunAs
	if m, ok := d.opts.UserMap[job.User]; ok {
		name = m
	} else if m, ok := d.opts.UserMap[anyUserKey]; ok {
		name = m
	}
	if name == sameUser {
		name = job.User
	}
	if name == "" {
		return nil, fmt.Errorf("user %q has no Unix account to run as", job.User)
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %q: Unix account %q: %w", job.User, name, err)
	}
	a := &account{name: u.Username, home: u.HomeDir}
	if a.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("account %s: uid %q: %w", name, u.Uid, err)
	}
	if a.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("account %s: gid %q: %w", name, u.Gid, err)
	}
	gids, err := u.GroupIds()
	if err != nil {
		gids = []string{u.Gid}
	}
	for _, g := range gids {
		n, err := strconv.Atoi(g)
		if err != nil {
			return nil, fmt.Errorf("account %s: group %q: %w", name, g, err)
		}
		a.groups = append(a.groups, n)
	}
	if a.uid == 0 || a.gid == 0 || slices.Contains(a.groups, 0) {
		return nil, fmt.Errorf("account %s is root or in group root: jobs never run with root's rights", name)
	}
	return a, nil
}

// checkIdentity refuses options that cannot hold as configured.
func checkIdentity(opts Options, root bool) error {
	if root {
		return nil
	}
	switch {
	case opts.RunAs != "":
		return errors.New("run_as needs gf to run as root; jobs run as the server's own user")
	case len(opts.UserMap) > 0:
		return errors.New("user_map needs gf to run as root; jobs run as the server's own user")
	}
	return nil
}

// isRoot reports whether this process may switch users.
func isRoot() bool { return os.Geteuid() == 0 }
