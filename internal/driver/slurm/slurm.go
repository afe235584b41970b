// Package slurm runs Gigafactory jobs on a Slurm cluster through
// slurmrestd, Slurm's REST API, and leaves the cluster's own scheduler in
// charge inside the site.
//
//	Start ──► find tag ──► POST job/submit ─────────────► handle (Slurm job id)
//	Poll  ──► GET jobs?update_time (304: nothing new) ──► map state ──► []Update
//	Adopt ──► GET jobs, index by tag "gf:<id>:<attempt>" ─► running / ended / lost
//	Pools ──► GET nodes, gres "gpu:h100:4(S:0)" ─────────► []core.Pool per partition
//
// Every job carries its Gigafactory id in its name ("gf-<id>") and comment
// ("gf:<id>:<attempt>"), so a restarted controller finds it again without
// its handle and a submit whose answer was lost is never repeated. See
// README.md for the state table and the gotchas of Slurm 22.05.
package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/jobpath"
)

// Compile-time checks of the capabilities this driver offers.
var (
	_ driver.Driver    = (*Driver)(nil)
	_ driver.Adopter   = (*Driver)(nil)
	_ driver.Signaler  = (*Driver)(nil)
	_ driver.Inventory = (*Driver)(nil)
	_ driver.Closer    = (*Driver)(nil)
	_ driver.LogReader = (*Driver)(nil)
)

// Options configure a Driver. FromSite reads them from a site's
// driver_options.
type Options struct {
	URL          string        // slurmrestd base URL, e.g. http://127.0.0.1:6820 (url, or slurm_url)
	User         string        // X-SLURM-USER-NAME (user)
	Token        string        // a fixed JWT (token)
	TokenFile    string        // a file holding the JWT, re-read when it changes (token_file)
	TokenCommand string        // a command printing a JWT, e.g. "scontrol token lifespan=3600" (token_command)
	Partition    string        // partition for jobs that name none (partition)
	Account      string        // Slurm account for every job (account)
	ProjectAs    string        // where the project goes: "wckey" (default), "account", "none" (project_as)
	WorkDir      string        // working directory of jobs without one (workdir; default /tmp)
	OutputDir    string        // where stdout/stderr go (output_dir; default the workdir)
	AllowedRoots []string      // more directories jobs' paths may lie under (allowed_roots)
	LogOwner     string        // Unix account or uid, on this machine, owning the files Logs serves (log_owner; default User's)
	TagPrefix    string        // tag prefix (tag; default "gf")
	APIVersion   string        // force an OpenAPI version, e.g. v0.0.38 (api_version)
	Timeout      time.Duration // per request (timeout; default 10s)
	ListTimeout  time.Duration // per full job listing (list_timeout; default 2m)
	Retries      int           // extra attempts for transient failures (retries; default 4)
	Backoff      time.Duration // first retry backoff (backoff; default 200ms)
	FullSync     time.Duration // full job listing at least this often (full_sync; default 30s)
	Logger       *slog.Logger  // default slog.Default()
	HTTPClient   *http.Client  // default: a client with keep-alive
}

// FromSite reads Options from site.DriverOptions.
func FromSite(site core.Site) (Options, error) {
	o := site.DriverOptions
	opts := Options{
		URL: firstSet(o["url"], o["slurm_url"]), User: o["user"], Token: o["token"], TokenFile: o["token_file"],
		TokenCommand: o["token_command"], Partition: o["partition"], Account: o["account"],
		ProjectAs: o["project_as"], WorkDir: o["workdir"], OutputDir: o["output_dir"],
		TagPrefix: o["tag"], APIVersion: o["api_version"], LogOwner: o["log_owner"],
	}
	roots, err := jobpath.ParseRoots(o[jobpath.OptAllowedRoots])
	if err != nil {
		return opts, fmt.Errorf("site %s: driver option allowed_roots: %w", site.ID, err)
	}
	opts.AllowedRoots = roots
	if v := opts.APIVersion; v != "" && !strings.HasPrefix(v, "v") {
		opts.APIVersion = "v" + v // "0.0.38" as in the config examples
	}
	for key, dst := range map[string]*time.Duration{"timeout": &opts.Timeout, "list_timeout": &opts.ListTimeout, "backoff": &opts.Backoff, "full_sync": &opts.FullSync} {
		if v := o[key]; v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return opts, fmt.Errorf("site %s: driver option %s: want a duration like 10s, got %q", site.ID, key, v)
			}
			*dst = d
		}
	}
	if v := o["retries"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return opts, fmt.Errorf("site %s: driver option retries: want a count, got %q", site.ID, v)
		}
		opts.Retries = n
	} else {
		opts.Retries = -1 // default
	}
	return opts, nil
}

func firstSet(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// Driver runs jobs on one Slurm cluster. It is safe for concurrent use.
type Driver struct {
	site  string
	opts  Options
	roots []string // what jobs' paths must lie under: AllowedRoots, WorkDir, OutputDir
	c     *client
	log   *slog.Logger
	now   func() time.Time

	negotiate sync.Mutex // held while finding the API version
	indexMu   sync.Mutex // held during the first full listing
	api       dialect

	mu          sync.Mutex
	tracked     map[int64]*tracked // Slurm id -> job followed by Poll
	byTag       map[tag]int64      // every tagged job seen or submitted
	indexed     bool               // a full listing has filled byTag
	cursor      time.Time          // update_time for the next Poll
	lastFull    time.Time
	orphans     map[tag]time.Time    // Start failed, Slurm may have the job anyway
	clusterJobs int                  // jobs in the last listing
	perJobMin   int                  // perJobThreshold; tests lower it
	ignored     map[int64]bool       // Slurm jobs cancelled as orphans
	pools       map[string]poolShape // pool name -> partition and GPU type
}

// tracked is a job Poll reports on.
type tracked struct {
	tag      tag
	reported core.State // last state reported ("" = none)
	refused  string     // Slurm's errors when it accepted the job with errors
}

// poolShape is how a pool maps back to Slurm.
type poolShape struct {
	Partition string
	GPUType   string
}

// New returns a Driver for the site whose driver is "slurm", configured
// from its driver_options. It does not contact slurmrestd: the API version
// is negotiated on first use, so a controller can start while a site is
// down.
func New(site core.Site) (*Driver, error) {
	opts, err := FromSite(site)
	if err != nil {
		return nil, err
	}
	return NewWithOptions(site.ID, opts)
}

// NewWithOptions returns a Driver for site from explicit options.
func NewWithOptions(site string, opts Options) (*Driver, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("site %s: driver option url: want http(s)://host:port, got %q", site, opts.URL)
	}
	if opts.User == "" {
		return nil, fmt.Errorf("site %s: driver option user is required (X-SLURM-USER-NAME)", site)
	}
	n := 0
	for _, s := range []string{opts.Token, opts.TokenFile, opts.TokenCommand} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("site %s: set exactly one of the driver options token, token_file, token_command", site)
	}
	switch opts.ProjectAs {
	case "":
		opts.ProjectAs = "wckey"
	case "wckey", "account", "none":
	default:
		return nil, fmt.Errorf("site %s: driver option project_as: want wckey, account or none, got %q", site, opts.ProjectAs)
	}
	if opts.WorkDir == "" {
		opts.WorkDir = jobpath.SlurmDefaultWorkDir
	}
	if opts.OutputDir == "" {
		opts.OutputDir = opts.WorkDir
	}
	if err := jobpath.CheckRoot(opts.WorkDir); err != nil {
		return nil, fmt.Errorf("site %s: driver option workdir: %w", site, err)
	}
	if err := jobpath.CheckRoot(opts.OutputDir); err != nil {
		return nil, fmt.Errorf("site %s: driver option output_dir: %w", site, err)
	}
	for _, r := range opts.AllowedRoots {
		if err := jobpath.CheckRoot(r); err != nil {
			return nil, fmt.Errorf("site %s: driver option allowed_roots: %w", site, err)
		}
	}
	opts.WorkDir, opts.OutputDir = path.Clean(opts.WorkDir), path.Clean(opts.OutputDir)
	if opts.TagPrefix == "" {
		opts.TagPrefix = "gf"
	}
	if strings.ContainsAny(opts.TagPrefix, ": ") {
		return nil, fmt.Errorf("site %s: driver option tag must not hold ':' or spaces", site)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.ListTimeout <= 0 {
		opts.ListTimeout = 2 * time.Minute
	}
	if opts.Retries < 0 {
		opts.Retries = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	if opts.FullSync <= 0 {
		opts.FullSync = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	hc := opts.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		hc = &http.Client{Transport: tr}
	}
	log := opts.Logger.With("site", site, "driver", "slurm")
	d := &Driver{
		site: site, opts: opts, log: log, now: time.Now,
		roots:   jobpath.Roots(opts.AllowedRoots, opts.WorkDir, opts.OutputDir),
		tracked: map[int64]*tracked{}, byTag: map[tag]int64{}, pools: map[string]poolShape{},
		orphans: map[tag]time.Time{}, ignored: map[int64]bool{}, perJobMin: perJobThreshold,
	}
	d.c = &client{
		base: strings.TrimRight(opts.URL, "/"), user: opts.User,
		tokens:  &tokenSource{static: secret(opts.Token), file: opts.TokenFile, command: opts.TokenCommand, now: time.Now},
		hc:      hc,
		timeout: opts.Timeout, listTimeout: opts.ListTimeout, retries: opts.Retries, backoff: opts.Backoff, log: log,
	}
	return d, nil
}

// Close releases idle connections.
func (d *Driver) Close() error {
	d.c.hc.CloseIdleConnections()
	return nil
}

// Version returns the negotiated OpenAPI version ("v0.0.38"), negotiating
// it first if needed.
func (d *Driver) Version(ctx context.Context) (string, error) {
	api, err := d.dialect(ctx)
	if err != nil {
		return "", err
	}
	return api.Version(), nil
}

// dialect negotiates the API version once, from GET /openapi/v3.
func (d *Driver) dialect(ctx context.Context) (dialect, error) {
	d.negotiate.Lock()
	defer d.negotiate.Unlock()
	if d.api != nil {
		return d.api, nil
	}
	resp, err := d.c.call(ctx, "openapi", http.MethodGet, "/openapi/v3", nil, true)
	if err != nil {
		return nil, fmt.Errorf("site %s: find the slurmrestd API version: %w", d.site, err)
	}
	paths, err := decodeOpenAPIPaths(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", d.site, err)
	}
	api, err := pickDialect(paths, d.opts.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", d.site, err)
	}
	d.api = api
	d.log.Info("slurmrestd API negotiated", "version", api.Version())
	return api, nil
}

// Start submits the job's attempt, unless Slurm already holds a job with
// its tag (a submit whose answer was lost, or a controller that crashed
// before recording the handle): then it returns that job's handle.
func (d *Driver) Start(ctx context.Context, job core.Job) (string, error) {
	// The paths first, and before any request: a job's bad path is its own
	// fault, never the site's.
	if _, err := d.paths(job); err != nil {
		return "", fmt.Errorf("start job %d: %w", job.ID, err)
	}
	api, err := d.dialect(ctx)
	if err != nil {
		return "", err
	}
	t := tag{job.ID, job.Attempt}
	// A Start retried after one that gave up owns the tag again: whatever
	// Slurm got from the first is this job's, not an orphan to cancel.
	d.mu.Lock()
	delete(d.orphans, t)
	d.mu.Unlock()
	if h, ok, err := d.lookup(ctx, api, t, false); err != nil {
		return "", fmt.Errorf("start job %d: %w", job.ID, err)
	} else if ok {
		return h, nil
	}
	req, err := d.request(ctx, api, job)
	if err != nil {
		return "", fmt.Errorf("start job %d: %w", job.ID, err)
	}
	body, err := api.SubmitBody(req)
	if err != nil {
		return "", fmt.Errorf("start job %d: %w", job.ID, err)
	}
	wait := d.opts.Backoff
	for attempt := 0; ; attempt++ {
		resp, err := d.c.call(ctx, "submit", http.MethodPost, api.SubmitPath(), body, false)
		if err == nil {
			id, errs, derr := api.DecodeSubmit(resp.Body)
			if derr != nil {
				err = &requestError{Op: "submit", Status: resp.Status, Err: derr, Retryable: true}
			} else if id == 0 {
				return "", fmt.Errorf("start job %d: slurm refused it: %s", job.ID, joinErrors(errs))
			} else {
				d.mu.Lock()
				d.byTag[t] = id
				tr := d.track(id, t)
				d.mu.Unlock()
				if len(errs) > 0 {
					// Slurm took the job but says it cannot run as asked
					// (e.g. more nodes than the partition has): Poll sees it
					// pending for a reason that never clears and refuses it.
					d.log.Warn("slurm accepted the job with errors", "job", job.ID, "slurm_job", id, "errors", joinErrors(errs))
					d.mu.Lock()
					tr.refused = joinErrors(errs)
					d.mu.Unlock()
				}
				return strconv.FormatInt(id, 10), nil
			}
		}
		var re *requestError
		if !errors.As(err, &re) || !re.Retryable {
			return "", fmt.Errorf("start job %d: %w", job.ID, err)
		}
		// The request may have reached slurmctld before the answer was
		// lost: never submit again before the tag was looked for.
		for {
			if attempt >= d.opts.Retries || ctx.Err() != nil || sleep(ctx, jitter(wait)) != nil {
				d.disown(t)
				return "", fmt.Errorf("start job %d: %w (whether Slurm got it is unknown: if it did, the driver cancels it)", job.ID, err)
			}
			wait = min(2*wait, maxBackoff)
			attempt++
			d.log.Warn("submit failed; looking for the job's tag before trying again", "job", job.ID, "attempt", attempt, "err", err)
			h, ok, lerr := d.lookup(ctx, api, t, true)
			if lerr == nil && ok {
				return h, nil
			}
			if lerr == nil {
				break // not there: safe to submit again
			}
			d.log.Warn("cannot look for the job's tag yet", "job", job.ID, "err", lerr)
		}
	}
}

// disown remembers that Start failed for t although Slurm may have taken
// the job: if a listing ever shows it, Poll cancels it, so that a job the
// control plane believes failed never runs behind its back.
func (d *Driver) disown(t tag) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.orphans[t] = d.now()
}

// reapOrphans cancels the Slurm jobs of disowned tags that a listing
// showed, and forgets tags older than orphanTTL. d.mu must not be held.
func (d *Driver) reapOrphans(ctx context.Context, api dialect) {
	d.mu.Lock()
	var ids []int64
	now := d.now()
	for t, since := range d.orphans {
		if id, ok := d.byTag[t]; ok {
			ids = append(ids, id)
			d.ignored[id] = true
			delete(d.byTag, t)
			delete(d.orphans, t)
			d.log.Warn("cancelling a job whose submission was reported failed", "job", t.ID, "attempt", t.Attempt, "slurm_job", id)
		} else if now.Sub(since) > orphanTTL {
			delete(d.orphans, t)
		}
	}
	d.mu.Unlock()
	for _, id := range ids {
		if err := d.cancelID(ctx, api, id, ""); err != nil {
			d.log.Warn("cannot cancel a disowned job", "slurm_job", id, "err", err)
		}
	}
}

func (d *Driver) isIgnored(id int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ignored[id]
}

// orphanTTL is how long a disowned tag is looked for.
const orphanTTL = 15 * time.Minute

// lookup finds the tag's Slurm job: in memory, else (on the first call of
// this Driver, or when fresh) in a full listing.
func (d *Driver) lookup(ctx context.Context, api dialect, t tag, fresh bool) (string, bool, error) {
	d.mu.Lock()
	id, ok := d.byTag[t]
	indexed := d.indexed
	delete(d.orphans, t) // started again: adopt rather than cancel
	d.mu.Unlock()
	if ok {
		d.mu.Lock()
		if _, followed := d.tracked[id]; !followed {
			d.track(id, t)
		}
		d.mu.Unlock()
		return strconv.FormatInt(id, 10), true, nil
	}
	if indexed && !fresh {
		return "", false, nil
	}
	if fresh {
		if _, err := d.listAll(ctx, api); err != nil {
			return "", false, err
		}
	} else if err := d.indexOnce(ctx, api); err != nil {
		return "", false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.byTag[t]; ok {
		if _, followed := d.tracked[id]; !followed {
			d.track(id, t)
		}
		d.log.Info("found the job already in Slurm by its tag; not submitting again", "job", t.ID, "attempt", t.Attempt, "slurm_job", id)
		return strconv.FormatInt(id, 10), true, nil
	}
	return "", false, nil
}

// indexOnce lists every job once for the first Starts of a Driver, however
// many run at once (a restarted daemon starting its queue).
func (d *Driver) indexOnce(ctx context.Context, api dialect) error {
	d.indexMu.Lock()
	defer d.indexMu.Unlock()
	d.mu.Lock()
	done := d.indexed
	d.mu.Unlock()
	if done {
		return nil
	}
	_, err := d.listAll(ctx, api)
	return err
}

// track starts following Slurm job id. d.mu must be held.
func (d *Driver) track(id int64, t tag) *tracked {
	tr := &tracked{tag: t}
	d.tracked[id] = tr
	return tr
}

// listAll reads every job and indexes the tagged ones.
func (d *Driver) listAll(ctx context.Context, api dialect) ([]jobInfo, error) {
	started := d.now()
	resp, err := d.c.call(ctx, opList, http.MethodGet, api.JobsPath(time.Time{}), nil, true)
	if err != nil {
		return nil, err
	}
	jobs, err := api.DecodeJobs(resp.Body)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.index(jobs)
	d.clusterJobs = len(jobs)
	d.indexed = true
	d.lastFull = started
	return jobs, nil
}

// index records tagged jobs; the lowest Slurm id wins a tag. d.mu held.
func (d *Driver) index(jobs []jobInfo) {
	for _, j := range jobs {
		t, ok := parseTag(d.opts.TagPrefix, j.Comment)
		if !ok || j.Name != t.name(d.opts.TagPrefix) || d.ignored[j.ID] {
			continue
		}
		if old, ok := d.byTag[t]; !ok || j.ID < old {
			d.byTag[t] = j.ID
		}
	}
}

// request maps a job to a Slurm submission. The allocation (what
// Gigafactory's scheduler placed) wins over the spec's shape.
func (d *Driver) request(ctx context.Context, api dialect, job core.Job) (submitRequest, error) {
	s := job.Spec
	t := tag{job.ID, job.Attempt}
	r := submitRequest{
		Name:      t.name(d.opts.TagPrefix),
		Comment:   t.comment(d.opts.TagPrefix),
		Partition: s.Partition,
		Account:   d.opts.Account,
		TimeLimit: time.Duration(s.Walltime),
	}
	paths, err := d.paths(job)
	if err != nil {
		return r, err
	}
	r.WorkDir, r.Stdout, r.Stderr = paths.WorkDir, paths.Stdout, paths.Stderr
	// Shape: nodes and GPUs per node.
	if a := job.Alloc; a != nil && len(a.Nodes) > 0 {
		r.Nodes = len(a.Nodes)
		for _, n := range a.Nodes {
			r.GPUsPerNode = max(r.GPUsPerNode, len(n.Accels))
		}
	} else {
		r.Nodes = max(s.Nodes, 1)
		whole := s.Accelerators.Whole()
		switch {
		case s.PerNode > 0:
			r.GPUsPerNode = s.PerNode
			if s.Nodes == 0 && whole > 0 {
				r.Nodes = (whole + s.PerNode - 1) / s.PerNode
			}
		case whole > 0:
			r.GPUsPerNode = (whole + r.Nodes - 1) / r.Nodes
		}
	}
	// Tasks, CPUs and memory: the spec's sbatch directives, else what
	// follows from the accelerators.
	switch {
	case s.Tasks > 0:
		r.Tasks = s.Tasks
	case s.TasksPerNode > 0:
		r.Tasks = s.TasksPerNode * r.Nodes
	default:
		r.Tasks = r.Nodes
	}
	r.TasksPerNode = s.TasksPerNode
	switch {
	case s.CPUsPerTask > 0:
		r.CPUsPerTask = s.CPUsPerTask
	case s.CPUsPerAccel > 0 && r.GPUsPerNode > 0:
		r.CPUsPerTask = s.CPUsPerAccel * r.GPUsPerNode
	}
	switch {
	case s.MemAll:
		r.MemPerNode = new(int)
	case s.MemMiBPerNode > 0:
		r.MemPerNode = &s.MemMiBPerNode
	case s.MemMiBPerCPU > 0:
		r.MemPerCPU = s.MemMiBPerCPU
	case s.MemMiBPerAccel > 0 && r.GPUsPerNode > 0:
		mem := s.MemMiBPerAccel * r.GPUsPerNode
		r.MemPerNode = &mem
	}
	r.Exclusive, r.Constraint, r.Hint, r.Reservation = s.Exclusive, s.Constraint, s.Hint, s.Reservation
	r.MailType, r.MailUser = s.MailType, s.MailUser
	if sig := s.Signal; sig != nil {
		r.Signal = fmt.Sprintf("%s@%d", sig.Name, sig.Seconds)
		if sig.BatchOnly {
			r.Signal = "B:" + r.Signal
		}
	}
	if s.Comment != "" {
		// After the tag, which parseTag reads up to its second ":".
		r.Comment += ":" + s.Comment
	}
	// Partition and GPU model: the pool placed on, else the spec, else the
	// site default.
	if job.Alloc != nil && job.Alloc.Pool != "" {
		shape, err := d.poolShape(ctx, api, job.Alloc.FirstPool())
		if err != nil {
			return r, err
		}
		// A gang across pools (the scheduler does not make one on a
		// Slurm site: sched.CanSpan) runs only if they share a partition.
		for _, other := range job.Alloc.Pools()[1:] {
			sh, err := d.poolShape(ctx, api, other)
			if err != nil {
				return r, err
			}
			if sh.Partition != shape.Partition {
				return r, fmt.Errorf("allocation spans pools %s in partitions %q and %q: a Slurm job runs in one partition", job.Alloc.Pool, shape.Partition, sh.Partition)
			}
		}
		if shape.Partition != "" {
			// The partition the scheduler placed it on: a script's own
			// -p names a partition of the site it was written for.
			r.Partition = shape.Partition
		}
		r.GPUType = shape.GPUType
	}
	if r.Partition == "" {
		r.Partition = d.opts.Partition
	}
	if r.GPUType == "" && s.Model != "" && !strings.Contains(s.Model, "|") {
		r.GPUType = strings.ToLower(s.Model)
	}
	switch d.opts.ProjectAs {
	case "wckey":
		r.WCKey = job.Project
	case "account":
		if r.Account == "" {
			r.Account = job.Project
		}
	}
	r.Env = jobEnv(job, r.WorkDir)
	script, err := batchScript(s, r.Nodes)
	if err != nil {
		return r, err
	}
	r.Script = withIdentity(script, orDefault(job.Name, s.Name), job.Project)
	return r, nil
}

// withIdentity has the script see the job's own name and account, which
// Slurm cannot set: it knows the job by its gf tag, and the project may be
// no Slurm account. The lines go after the script's leading comments (its
// #SBATCH block), so nothing reading directives misses one.
func withIdentity(script, name, project string) string {
	lines := strings.SplitAfter(script, "\n")
	i := 0
	for i < len(lines) && (strings.HasPrefix(lines[i], "#") || strings.TrimSpace(lines[i]) == "") {
		i++
	}
	prelude := ""
	if name != "" {
		prelude = "export SLURM_JOB_NAME=" + shellQuote(name) + " # the job's name, as submitted to Gigafactory\n"
	}
	if project != "" {
		prelude += "[ -n \"$SLURM_JOB_ACCOUNT\" ] || export SLURM_JOB_ACCOUNT=" + shellQuote(project) + "\n"
	}
	head := strings.Join(lines[:i], "")
	if head != "" && !strings.HasSuffix(head, "\n") {
		head += "\n"
	}
	return head + prelude + strings.Join(lines[i:], "")
}

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// batchScript is the job's script, or one that runs its command: directly
// on one node, with srun once per node on several.
func batchScript(s core.JobSpec, nodes int) (string, error) {
	if s.Script != "" {
		if !strings.HasPrefix(s.Script, "#!") {
			return "#!/bin/bash\n" + s.Script, nil
		}
		return s.Script, nil
	}
	if len(s.Command) == 0 {
		return "", errors.New("job has neither a command nor a script")
	}
	var b strings.Builder
	b.WriteString("#!/bin/bash\n# written by Gigafactory's slurm driver\nexec ")
	if nodes > 1 {
		b.WriteString("srun --ntasks-per-node=1 ")
	}
	for i, a := range s.Command {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(shellQuote(a))
	}
	b.WriteByte('\n')
	return b.String(), nil
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+,./:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Poll reports what changed since the previous call. It asks with
// update_time, so an idle cluster answers 304 cheaply, and lists every job
// at least every FullSync to notice jobs that left slurmctld's memory.
func (d *Driver) Poll(ctx context.Context) ([]driver.Update, error) {
	d.mu.Lock()
	idle := len(d.tracked) == 0 && len(d.orphans) == 0
	full := !d.indexed || d.now().Sub(d.lastFull) >= d.opts.FullSync
	since := d.cursor
	// slurmrestd 22.05 lists every job or none, and a listing of 7,000
	// jobs is 25 MB: on a busy cluster, ask for the few jobs we follow.
	perJob := d.clusterJobs > 4*len(d.tracked)+d.perJobMin && !(full && len(d.orphans) > 0)
	var ids []int64
	if perJob {
		for id := range d.tracked {
			ids = append(ids, id)
		}
	}
	d.mu.Unlock()
	if idle {
		return nil, nil
	}
	api, err := d.dialect(ctx)
	if err != nil {
		return nil, err
	}
	started := d.now()
	var jobs []jobInfo
	switch {
	case perJob:
		var gone []int64
		jobs, gone, err = d.fetchEach(ctx, api, ids)
		if err != nil {
			return nil, fmt.Errorf("site %s: poll: %w", d.site, err)
		}
		ups, refuse := d.observe(jobs, false)
		ups = append(ups, d.vanished(gone)...)
		d.refuse(ctx, api, refuse)
		return ups, nil
	case full || since.IsZero():
		jobs, err = d.listAll(ctx, api)
		if err != nil {
			return nil, fmt.Errorf("site %s: poll: %w", d.site, err)
		}
		full = true
	default:
		// Slurm's clock and ours differ and its times are whole seconds:
		// ask from a little earlier; reporting is idempotent.
		resp, err := d.c.call(ctx, opList, http.MethodGet, api.JobsPath(since.Add(-2*time.Second)), nil, true)
		if err != nil {
			return nil, fmt.Errorf("site %s: poll: %w", d.site, err)
		}
		if resp.Status == http.StatusNotModified {
			return nil, nil
		}
		if jobs, err = api.DecodeJobs(resp.Body); err != nil {
			return nil, fmt.Errorf("site %s: poll: %w", d.site, err)
		}
		d.mu.Lock()
		d.index(jobs)
		d.clusterJobs = len(jobs)
		d.mu.Unlock()
		full = true // slurmctld answers every job or none
	}
	d.reapOrphans(ctx, api)
	ups, refuse := d.observe(jobs, full)
	d.refuse(ctx, api, refuse)
	d.mu.Lock()
	d.cursor = started
	d.mu.Unlock()
	return ups, nil
}

// perJobThreshold: with fewer jobs in the cluster than this (plus four per
// followed job), one listing is cheaper than a request per job.
const perJobThreshold = 64

// fetchEach reads the given jobs one request each, four at a time. It
// returns the jobs found and the ids Slurm no longer knows.
func (d *Driver) fetchEach(ctx context.Context, api dialect, ids []int64) ([]jobInfo, []int64, error) {
	var (
		mu   sync.Mutex
		jobs []jobInfo
		gone []int64
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 4)
	)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := d.c.call(ctx, "get job", http.MethodGet, api.JobPath(id), nil, true)
			var js []jobInfo
			if err == nil {
				js, err = api.DecodeJobs(resp.Body)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case hasSlurmError(err, esInvalidJobID):
				gone = append(gone, id)
			case err != nil:
				errs = append(errs, err)
			default:
				jobs = append(jobs, js...)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, nil, errs[0]
	}
	return jobs, gone, nil
}

// vanished reports followed jobs that Slurm no longer knows.
func (d *Driver) vanished(ids []int64) []driver.Update {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []driver.Update
	for _, id := range ids {
		if tr, ok := d.tracked[id]; ok {
			out = append(out, d.update(id, tr, outcome{State: core.StateFailed, Reason: reasonPurged}, d.now()))
			delete(d.tracked, id)
		}
	}
	return out
}

const reasonPurged = "job no longer known to Slurm (purged before its end was seen)"

// refuse cancels jobs Slurm will never run (already reported failed).
func (d *Driver) refuse(ctx context.Context, api dialect, ids []int64) {
	for _, id := range ids {
		if err := d.cancelID(ctx, api, id, ""); err != nil {
			d.log.Warn("cannot cancel a job Slurm will never run", "slurm_job", id, "err", err)
		}
	}
}

// observe turns a listing into updates for the tracked jobs. It returns
// the ids of jobs to cancel because Slurm will never run them.
func (d *Driver) observe(jobs []jobInfo, complete bool) ([]driver.Update, []int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	seen := map[int64]bool{}
	var out []driver.Update
	var refuse []int64
	for _, j := range jobs {
		tr, ok := d.tracked[j.ID]
		if !ok {
			continue
		}
		seen[j.ID] = true
		o := mapState(j)
		if tr.refused != "" && j.State == "PENDING" {
			// Accepted with errors: refuse with Slurm's own words, even
			// when the pending reason is new to us.
			o = outcome{State: core.StateFailed, Never: true, Reason: "refused by Slurm: " + tr.refused + " (" + j.Reason + ")"}
		}
		if o.Never {
			refuse = append(refuse, j.ID)
			out = append(out, d.update(j.ID, tr, outcome{State: core.StateFailed, Reason: o.Reason}, now))
			delete(d.tracked, j.ID)
			continue
		}
		if o.State == "" || o.State == tr.reported {
			continue
		}
		at := now
		switch {
		case o.State == core.StateRunning && !j.Start.IsZero():
			at = j.Start
		case o.State.Terminal() && !j.End.IsZero():
			at = j.End
		}
		if o.State.Terminal() && tr.reported != core.StateRunning && !j.Start.IsZero() && j.Nodes != "" {
			// It ran (it had nodes) between two polls: say so first.
			out = append(out, d.update(j.ID, tr, outcome{State: core.StateRunning}, j.Start))
		}
		out = append(out, d.update(j.ID, tr, o, at))
		if o.State.Terminal() {
			delete(d.tracked, j.ID)
		}
	}
	if complete {
		for id, tr := range d.tracked {
			if !seen[id] {
				out = append(out, d.update(id, tr, outcome{State: core.StateFailed, Reason: reasonPurged}, now))
				delete(d.tracked, id)
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].JobID < out[b].JobID })
	return out, refuse
}

// update builds an Update and records it as reported. d.mu held.
func (d *Driver) update(id int64, tr *tracked, o outcome, at time.Time) driver.Update {
	tr.reported = o.State
	return driver.Update{
		JobID: tr.tag.ID, Attempt: tr.tag.Attempt, Handle: strconv.FormatInt(id, 10),
		State: o.State, ExitCode: o.ExitCode, Signal: o.Signal, Reason: o.Reason, Time: at,
	}
}

// Cancel ends the job in Slurm; Poll reports it cancelled. Cancelling a job
// that already ended does nothing.
func (d *Driver) Cancel(ctx context.Context, job core.Job) error {
	api, err := d.dialect(ctx)
	if err != nil {
		return err
	}
	id, err := d.resolve(ctx, api, job)
	if err != nil {
		return fmt.Errorf("cancel job %d: %w", job.ID, err)
	}
	if err := d.cancelID(ctx, api, id, ""); err != nil {
		return fmt.Errorf("cancel job %d (slurm %d): %w", job.ID, id, err)
	}
	return nil
}

// Signal delivers sig (e.g. "SIGUSR1") to every process of the job, the
// batch script included, without ending it.
func (d *Driver) Signal(ctx context.Context, job core.Job, sig string) error {
	s, err := signalArg(sig)
	if err != nil {
		return fmt.Errorf("signal job %d: %w", job.ID, err)
	}
	api, err := d.dialect(ctx)
	if err != nil {
		return err
	}
	id, err := d.resolve(ctx, api, job)
	if err != nil {
		return fmt.Errorf("signal job %d: %w", job.ID, err)
	}
	if err := d.cancelID(ctx, api, id, s); err != nil {
		return fmt.Errorf("signal job %d (slurm %d) with %s: %w", job.ID, id, s, err)
	}
	return nil
}

// resolve finds the Slurm job of a job this driver started or adopted.
func (d *Driver) resolve(ctx context.Context, api dialect, job core.Job) (int64, error) {
	t := tag{job.ID, job.Attempt}
	d.mu.Lock()
	id, ok := d.byTag[t]
	d.mu.Unlock()
	if ok {
		return id, nil
	}
	if job.Handle != "" {
		// Known by handle only if the Slurm job carries our tag: a wiped
		// slurmctld reuses ids.
		if h, err := strconv.ParseInt(job.Handle, 10, 64); err == nil {
			if _, err := d.listAll(ctx, api); err != nil {
				return 0, err
			}
			d.mu.Lock()
			id, ok = d.byTag[t]
			d.mu.Unlock()
			if ok && id == h {
				return id, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: no Slurm job tagged %s", driver.ErrUnknownJob, t.comment(d.opts.TagPrefix))
}

// cancelID sends DELETE job/{id}, with a signal or (none) to end it. A job
// that already ended is not an error.
func (d *Driver) cancelID(ctx context.Context, api dialect, id int64, signal string) error {
	_, err := d.c.call(ctx, "cancel", http.MethodDelete, api.CancelPath(id, signal), nil, true)
	if err != nil && signal == "" && (hasSlurmError(err, esAlreadyDone) || hasSlurmError(err, esInvalidJobID)) {
		return nil
	}
	return err
}

// Adopt reattaches to jobs started before a controller restart, finding
// each by its tag (the handle may never have been recorded). A job Slurm
// holds twice under one tag (it cannot happen through this driver, but an
// operator may resubmit) keeps its lowest id; the others are cancelled.
func (d *Driver) Adopt(ctx context.Context, jobs []core.Job) ([]driver.Update, error) {
	api, err := d.dialect(ctx)
	if err != nil {
		return nil, err
	}
	all, err := d.listAll(ctx, api)
	if err != nil {
		return nil, fmt.Errorf("site %s: adopt: %w", d.site, err)
	}
	byID := map[int64]jobInfo{}
	dups := map[tag][]int64{}
	for _, j := range all {
		byID[j.ID] = j
		if t, ok := parseTag(d.opts.TagPrefix, j.Comment); ok && j.Name == t.name(d.opts.TagPrefix) && !d.isIgnored(j.ID) {
			dups[t] = append(dups[t], j.ID)
		}
	}
	now := d.now()
	var out []driver.Update
	for _, job := range jobs {
		t := tag{job.ID, job.Attempt}
		d.mu.Lock()
		id, ok := d.byTag[t]
		d.mu.Unlock()
		if !ok {
			out = append(out, driver.Update{JobID: job.ID, Attempt: job.Attempt, Handle: job.Handle,
				State: core.StateFailed, Reason: "controller restarted", Time: now})
			continue
		}
		for _, other := range dups[t] {
			if other != id && mapState(byID[other]).State != core.StateRunning && mapState(byID[other]).State.Terminal() {
				continue
			}
			if other != id {
				d.log.Warn("cancelling a duplicate Slurm job of one attempt", "job", job.ID, "slurm_job", other, "kept", id)
				if err := d.cancelID(ctx, api, other, ""); err != nil {
					d.log.Warn("cannot cancel duplicate", "slurm_job", other, "err", err)
				}
			}
		}
		j := byID[id]
		o := mapState(j)
		d.mu.Lock()
		tr := d.track(id, t)
		switch {
		case o.State.Terminal() && !o.Never:
			out = append(out, d.update(id, tr, o, orNow(j.End, now)))
			delete(d.tracked, id)
		default:
			// Running, or waiting in Slurm's queue: re-adopted. A never
			// runnable one is refused by the next Poll.
			at := now // a pending job's start_time is Slurm's estimate, maybe a year ahead
			if o.State == core.StateRunning {
				at = orNow(j.Start, now)
			}
			out = append(out, d.update(id, tr, outcome{State: core.StateRunning}, at))
		}
		d.mu.Unlock()
	}
	return out, nil
}

func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// Pools reads the nodes into one pool per partition and GPU shape. A node
// in several partitions counts once, in the first Slurm lists. Nodes
// without GPUs are left out.
func (d *Driver) Pools(ctx context.Context) ([]core.Pool, error) {
	api, err := d.dialect(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := d.c.call(ctx, "list nodes", http.MethodGet, api.NodesPath(), nil, true)
	if err != nil {
		return nil, fmt.Errorf("site %s: read nodes: %w", d.site, err)
	}
	nodes, err := api.DecodeNodes(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", d.site, err)
	}
	pools, shapes, err := poolsOf(nodes)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", d.site, err)
	}
	d.mu.Lock()
	d.pools = shapes
	d.mu.Unlock()
	return pools, nil
}

// poolsOf groups nodes by (partition, GPU model, GPUs per node); a
// partition with one group names the pool after itself, else
// "<partition>-<model>-<n>".
func poolsOf(nodes []nodeInfo) ([]core.Pool, map[string]poolShape, error) {
	type key struct {
		part, model string
		per         int
	}
	groups := map[key]*core.Pool{}
	perPart := map[string]int{}
	for _, n := range nodes {
		gres, err := parseGres(n.Gres)
		if err != nil {
			return nil, nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		if len(gres) == 0 || len(n.Partitions) == 0 {
			continue
		}
		model, per := gres[0].Type, 0
		for _, g := range gres {
			per += g.Count
		}
		if model == "" {
			model = "gpu"
		}
		k := key{n.Partitions[0], model, per}
		p, ok := groups[k]
		if !ok {
			p = &core.Pool{Model: model, AccelPerNode: per, CPUsPerNode: n.CPUs, MemMiBPerNode: n.MemMiB}
			groups[k] = p
			perPart[k.part]++
		}
		p.Nodes++
		p.CPUsPerNode = min(p.CPUsPerNode, n.CPUs)
		p.MemMiBPerNode = min(p.MemMiBPerNode, n.MemMiB)
	}
	var out []core.Pool
	shapes := map[string]poolShape{}
	for k, p := range groups {
		p.Name = k.part
		if perPart[k.part] > 1 {
			p.Name = fmt.Sprintf("%s-%s-%d", k.part, k.model, k.per)
		}
		gpuType := k.model
		if gpuType == "gpu" {
			gpuType = ""
		}
		shapes[p.Name] = poolShape{Partition: k.part, GPUType: gpuType}
		out = append(out, *p)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, shapes, nil
}

// poolShape maps a pool name to its partition, reading the nodes when the
// pool is not known yet.
func (d *Driver) poolShape(ctx context.Context, api dialect, pool string) (poolShape, error) {
	d.mu.Lock()
	s, ok := d.pools[pool]
	d.mu.Unlock()
	if ok {
		return s, nil
	}
	if _, err := d.Pools(ctx); err != nil {
		return poolShape{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok = d.pools[pool]
	if !ok {
		// A pool named in the site's configuration, not by Pools: no
		// partition or GPU type from it, and no reading nodes again.
		d.pools[pool] = poolShape{}
	}
	return s, nil
}

// jobPaths are a job's working directory and the files Slurm writes its
// stdout and stderr to, all absolute; the files may hold Slurm's %
// patterns. An empty Stderr sends stderr to Stdout, as sbatch does.
type jobPaths struct {
	WorkDir, Stdout, Stderr string
}

// paths resolves and checks the job's workdir, output and error under
// jobpath's rules against the driver's roots (allowed_roots, workdir,
// output_dir). The job runs where sbatch would run it (jobpath.RunDir):
// its workdir, a relative one taken from the driver's workdir; else the
// directory it was submitted from, when the roots hold it; else the
// driver's workdir. A relative output or error is taken from there. A job
// that names no output writes stdout and stderr to sbatch's slurm-%j.out
// (slurm-%A_%a.out for an array task): in the directory it chose (workdir
// or submit directory), else in output_dir. A refused path is a
// *jobpath.Error naming its field.
//
// gf expands %x (the job's own name, not the Slurm job name, which is the
// driver's tag) and, for an array task, %A and %a (Slurm sees each task as
// a job of its own); Slurm expands the rest: %j %J %u %N, and %A %a of a
// job that is no array task. Slurm also knows %b %n %s %t, with an
// optional zero-padding width; none yields a "/" or a "..", so they are
// checked as written. A % sequence Slurm does not know (which it might
// drop, turning ".%q." into "..") and a backslash (which turns expansion
// off, so the file written is not the one checked) are refused.
func (d *Driver) paths(job core.Job) (jobPaths, error) {
	s := job.Spec
	p := jobPaths{WorkDir: d.opts.WorkDir}
	outDir := d.opts.OutputDir
	if run, _ := jobpath.RunDir(s, d.roots); run != "" {
		if err := jobpath.Check(jobpath.FieldWorkDir, run, d.roots, false); err != nil {
			return p, err
		}
		p.WorkDir = path.Clean(run)
		if !path.IsAbs(p.WorkDir) {
			p.WorkDir = path.Join(d.opts.WorkDir, p.WorkDir)
		}
		outDir = p.WorkDir
	}
	pre := d.preVars(job)
	def, err := jobpath.Expand(jobpath.DefaultOutputFor(job), pre)
	if err != nil {
		return p, &jobpath.Error{Field: jobpath.FieldOutput, Msg: err.Error()}
	}
	p.Stdout = path.Join(outDir, def)
	// Checked with stand-ins for what Slurm expands: ids are numbers.
	check := d.vars(job, "1")
	check.Node = "node"
	for _, f := range []struct {
		field, pattern string
		dst            *string
	}{{jobpath.FieldOutput, s.Output, &p.Stdout}, {jobpath.FieldError, s.Error, &p.Stderr}} {
		if f.pattern == "" {
			continue
		}
		if err := slurmPattern(f.field, f.pattern); err != nil {
			return p, err
		}
		x, err := jobpath.Expand(f.pattern, pre)
		if err != nil {
			return p, &jobpath.Error{Field: f.field, Msg: err.Error()}
		}
		full, err := jobpath.Expand(x, check)
		if err != nil {
			return p, &jobpath.Error{Field: f.field, Msg: err.Error()}
		}
		if err := jobpath.Check(f.field, full, d.roots, true); err != nil {
			return p, err
		}
		*f.dst = x
		if !path.IsAbs(x) {
			*f.dst = path.Join(p.WorkDir, x)
		}
	}
	return p, nil
}

// preVars are what gf expands itself before Slurm sees a path: %x, the
// job's name, and an array task's %A and %a; the rest is kept for Slurm.
func (d *Driver) preVars(job core.Job) jobpath.Vars {
	v := jobpath.JobVars(job, "")
	v.Keep = "jJuN"
	if job.ArrayTaskID == nil {
		v.Keep += "Aa"
	}
	return v
}

// vars are what Slurm puts for the patterns gf leaves to it: %j %J (and
// %A of a job that is no array task) the Slurm job id slurmID, %u the
// Slurm user, %a of such a job NoArrayTask. %N (the first node) is not
// known here, so a path holding it cannot be read back.
func (d *Driver) vars(job core.Job, slurmID string) jobpath.Vars {
	return jobpath.Vars{JobID: slurmID, ArrayJobID: slurmID, ArrayTaskID: jobpath.NoArrayTask, User: d.opts.User}
}

// slurmSpecifiers are the letters of Slurm's filename patterns.
const slurmSpecifiers = "AabJjNnstux"

// slurmPattern refuses in an output or error path what Slurm would expand
// otherwise than it is checked: a backslash, and a % sequence that is not
// %%, nor one of Slurm's patterns with an optional width (%j, %5j, ...).
func slurmPattern(field, p string) error {
	if strings.IndexByte(p, '\\') >= 0 {
		return &jobpath.Error{Field: field, Msg: fmt.Sprintf("%q holds a backslash, which turns off Slurm's %% patterns: not allowed on a Slurm site", p)}
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		j := i + 1
		if j < len(p) && p[j] == '%' {
			i = j
			continue
		}
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		if j == len(p) || !strings.ContainsRune(slurmSpecifiers, rune(p[j])) {
			return &jobpath.Error{Field: field, Msg: fmt.Sprintf("%q holds %q, not one of Slurm's patterns (%%j %%x %%u %%A %%a %%b %%J %%N %%n %%s %%t, or %%%% for a %%)", p, p[i:min(j+1, len(p))])}
		}
		i = j
	}
	return nil
}

// Logs opens the job's stdout or stderr where Slurm wrote it. That works
// when the controller sees the cluster's file system (a shared output_dir,
// or the one-machine test cluster); otherwise the error says where the
// file is. %j, %x, %u and %% are expanded; a relative path is taken from
// the job's working directory.
//
// Logs reads as the controller's user (root, in production), so it reads
// only what a job of this site could have written: a path under the
// driver's roots, opened from the root down without following any
// symbolic link, and a regular file with one link owned by the Slurm
// user (LogOwner). Anything else is refused, whatever the job's spec says.
func (d *Driver) Logs(ctx context.Context, job core.Job, stream string) (io.ReadCloser, error) {
	field := jobpath.FieldOutput
	switch stream {
	case "stdout":
	case "stderr":
		field = jobpath.FieldError
	default:
		return nil, fmt.Errorf("logs of job %d: stream must be stdout or stderr, got %q", job.ID, stream)
	}
	paths, err := d.paths(job)
	if err != nil {
		return nil, fmt.Errorf("logs of job %d: %w", job.ID, err)
	}
	pattern := paths.Stdout
	if field == jobpath.FieldError && paths.Stderr != "" {
		pattern = paths.Stderr
	} else {
		field = jobpath.FieldOutput
	}
	handle := job.Handle
	if handle == "" {
		d.mu.Lock()
		if id, ok := d.byTag[tag{job.ID, job.Attempt}]; ok {
			handle = strconv.FormatInt(id, 10)
		}
		d.mu.Unlock()
	}
	if handle == "" && strings.ContainsAny(strings.ReplaceAll(pattern, "%%", ""), "%") {
		return nil, fmt.Errorf("logs of job %d: %w: no Slurm job id to expand %%j", job.ID, driver.ErrUnknownJob)
	}
	p, err := jobpath.Expand(pattern, d.vars(job, handle))
	if err != nil {
		return nil, fmt.Errorf("logs of job %d: %w", job.ID, &jobpath.Error{Field: field, Msg: err.Error()})
	}
	uid, err := d.logOwner()
	if err != nil {
		return nil, fmt.Errorf("logs of job %d: %w", job.ID, err)
	}
	f, err := jobpath.OpenLogUnder(field, p, d.roots, uid)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("logs of job %d: Slurm writes them to %s on the cluster, not readable here: %w", job.ID, p, err)
	case err != nil:
		return nil, fmt.Errorf("logs of job %d: %s: %w", job.ID, p, err)
	}
	return f, nil
}

// logOwner is the uid whose files Logs serves: LogOwner's (an account
// name or a number), else the Slurm user's account on this machine. Root
// is refused: a root job's files cannot be told from the system's.
func (d *Driver) logOwner() (int, error) {
	name, opt := d.opts.LogOwner, "log_owner"
	if name == "" {
		name, opt = d.opts.User, "user"
	}
	uid, err := strconv.Atoi(name)
	if err != nil {
		u, lerr := user.Lookup(name)
		if lerr != nil {
			return -1, fmt.Errorf("Slurm jobs' files belong to %s, who has no account on this machine, so gf cannot tell them from others' (set driver option log_owner to their owner here): %w", name, lerr)
		}
		if uid, err = strconv.Atoi(u.Uid); err != nil {
			return -1, fmt.Errorf("account %s has uid %q: %w", name, u.Uid, err)
		}
	}
	if uid <= 0 {
		return -1, fmt.Errorf("driver option %s: jobs' files would belong to uid %d (root), and gf serves no root files as logs", opt, uid)
	}
	return uid, nil
}
