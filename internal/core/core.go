// Package core is Gigafactory's vocabulary: jobs, their specs and states,
// sites, pools, organisations, projects, users and allocations.
//
// It imports only the standard library and holds no behaviour beyond small
// pure helpers, so every other package (the pure scheduling core included)
// can depend on it.
package core

import (
	"fmt"
	"strings"
	"time"
)

// JobID identifies a job across the whole control plane. IDs are assigned by
// the store, are positive and increase with submission order.
type JobID int64

// String formats the id as users see it.
func (id JobID) String() string { return fmt.Sprintf("%d", int64(id)) }

// Milli is an amount of accelerators in thousandths: 1000 is one whole
// accelerator, 250 a quarter of one (a MIG/MPS-style slice).
type Milli int64

// Whole reports the number of whole accelerators, rounding up.
func (m Milli) Whole() int { return int((m + 999) / 1000) }

// String formats the amount as a decimal number of accelerators ("8", "0.25").
func (m Milli) String() string {
	if m%1000 == 0 {
		return fmt.Sprintf("%d", m/1000)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%03d", m/1000, m%1000), "0")
}

// MarshalJSON encodes m as a decimal number of accelerators (8, 0.25).
func (m Milli) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON decodes a decimal number of accelerators, at most three
// decimals, not negative.
func (m *Milli) UnmarshalJSON(b []byte) error {
	v, err := ParseMilli(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMilli parses a decimal number of accelerators ("8", "0.25") into
// thousandths. It refuses negative numbers and more than three decimals.
func ParseMilli(s string) (Milli, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "null" {
		return 0, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("must not be negative, got %s", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 3 {
		return 0, fmt.Errorf("at most three decimals (thousandths of an accelerator), got %s", s)
	}
	var w, f int64
	if whole != "" {
		if _, err := fmt.Sscanf(whole, "%d", &w); err != nil || fmt.Sprint(w) != strings.TrimLeft(whole, "0") && !(w == 0 && strings.Trim(whole, "0") == "") {
			return 0, fmt.Errorf("not a number: %s", s)
		}
	}
	if frac != "" {
		for len(frac) < 3 {
			frac += "0"
		}
		if _, err := fmt.Sscanf(frac, "%d", &f); err != nil || strings.Trim(frac, "0123456789") != "" {
			return 0, fmt.Errorf("not a number: %s", s)
		}
	}
	if w > 10_000_000 {
		return 0, fmt.Errorf("too many accelerators: %s", s)
	}
	return Milli(w*1000 + f), nil
}

// State is where a job is in its life. Terminal states never change again.
type State string

// Job states. The values are the wire and storage format.
const (
	StatePending   State = "pending"   // accepted and durable, waiting for placement
	StateStarting  State = "starting"  // placed; the driver is launching it
	StateRunning   State = "running"   // running on a site
	StateCompleted State = "completed" // exited 0
	StateFailed    State = "failed"    // exited non-zero, was killed by a signal, or could not start
	StateCancelled State = "cancelled" // cancelled by a user or operator
	StateTimeout   State = "timeout"   // ran past its walltime and was stopped
)

// Terminal reports whether s is a final state.
func (s State) Terminal() bool {
	switch s {
	case StateCompleted, StateFailed, StateCancelled, StateTimeout:
		return true
	}
	return false
}

// Active reports whether a job in state s holds resources on a site.
func (s State) Active() bool { return s == StateStarting || s == StateRunning }

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	switch s {
	case StatePending, StateStarting, StateRunning, StateCompleted, StateFailed, StateCancelled, StateTimeout:
		return true
	}
	return false
}

// Access modes (QoS) a job may ask for.
const (
	QoSPlayground = "playground"
	QoSNormal     = "normal"
	QoSFastLane   = "fast-lane"
	QoSLargeScale = "large-scale"
	QoSMoonshot   = "moonshot"
)

// JobSpec is what a user asks for. It is parsed from YAML, JSON or a script's
// #SBATCH directives (package spec) and stored as submitted.
type JobSpec struct {
	Name           string            `json:"name,omitempty"`
	Project        string            `json:"project,omitempty"`
	Command        []string          `json:"command,omitempty"`
	Script         string            `json:"script,omitempty"`
	Accelerators   Milli             `json:"accelerators"`    // a decimal number of accelerators on the wire
	Model          string            `json:"model,omitempty"` // acceptable accelerator models, "|"-separated; empty = any
	Nodes          int               `json:"nodes,omitempty"` // 0 = let the scheduler decide
	PerNode        int               `json:"accelerators_per_node,omitempty"`
	Walltime       Duration          `json:"walltime,omitempty"` // 0 = site default
	PriorityClass  string            `json:"priority_class,omitempty"`
	QoS            string            `json:"qos,omitempty"`
	Preemptible    bool              `json:"preemptible,omitempty"`
	Checkpointable bool              `json:"checkpointable,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	WorkDir        string            `json:"workdir,omitempty"`
	Residency      []string          `json:"residency,omitempty"` // allowed ISO 3166-1 alpha-2 countries; empty = anywhere
	ModelTag       string            `json:"model_tag,omitempty"`
	Partition      string            `json:"partition,omitempty"`
	Output         string            `json:"output,omitempty"`
	Error          string            `json:"error,omitempty"`
	Site           string            `json:"site,omitempty"` // pin to one site; empty = broker decides
	CPUsPerAccel   int               `json:"cpus_per_accelerator,omitempty"`
	MemMiBPerAccel int               `json:"mem_mib_per_accelerator,omitempty"`
	// Topology is how tightly a multi-node job's nodes must sit: "block"
	// or "pod" (required), "any" (spread is fine); empty packs into as few
	// blocks and pods as free capacity allows without requiring it.
	Topology string `json:"topology,omitempty"`
	// Datasets names the job's input datasets; the federation broker
	// prefers sites that already hold them (data gravity).
	Datasets []string `json:"datasets,omitempty"`

	// The fields below carry the meaning of sbatch directives, so that a
	// batch script written for a Slurm site says in its spec all it asked
	// for. Package spec reads them from #SBATCH lines and JSON alike.

	// SiteQoS is a QoS name that is not one of Gigafactory's (a site's
	// "boost_qos_dbg"), kept as written for a per-site table to map; QoS
	// stays empty (the default) until it does.
	SiteQoS string `json:"site_qos,omitempty"`
	// NodesMax is the upper end of a node range (--nodes=2-4); Nodes holds
	// the lower end, which is what the job is started on.
	NodesMax int `json:"nodes_max,omitempty"`
	// Tasks, TasksPerNode and CPUsPerTask are Slurm's tasks: processes the
	// script launches (srun), each given CPUsPerTask cores.
	Tasks        int `json:"ntasks,omitempty"`
	TasksPerNode int `json:"ntasks_per_node,omitempty"`
	CPUsPerTask  int `json:"cpus_per_task,omitempty"`
	// Memory is asked for in one of three ways: per node (MemMiBPerNode, or
	// MemAll for all of each node's memory, --mem=0), per CPU
	// (MemMiBPerCPU) or per accelerator (MemMiBPerAccel).
	MemMiBPerNode int  `json:"mem_mib_per_node,omitempty"`
	MemAll        bool `json:"mem_all,omitempty"`
	MemMiBPerCPU  int  `json:"mem_mib_per_cpu,omitempty"`
	// AccelPerTask is --gpus-per-task; Accelerators follows from it and the
	// task count.
	AccelPerTask int `json:"accelerators_per_task,omitempty"`
	// Exclusive asks for whole nodes, shared with no other job.
	Exclusive bool `json:"exclusive,omitempty"`
	// Constraint is a Slurm feature expression ("mi250&ib", "[a|b]") over
	// the features pools declare, kept as written.
	Constraint string `json:"constraint,omitempty"`
	// Array makes the submission a job array.
	Array *JobArray `json:"array,omitempty"`
	// Dependency holds the job back until other jobs reach a state.
	Dependency *Dependency `json:"dependency,omitempty"`
	// Signal is sent to the job a while before its walltime ends.
	Signal *JobSignal `json:"signal,omitempty"`
	// Requeue says whether the job may be requeued after a node failure or
	// preemption; nil leaves it to the site.
	Requeue *bool `json:"requeue,omitempty"`
	// Hint, MailType and MailUser are kept as written (--hint,
	// --mail-type, --mail-user); nothing acts on them yet.
	Hint     string `json:"hint,omitempty"`
	MailType string `json:"mail_type,omitempty"`
	MailUser string `json:"mail_user,omitempty"`
	// Export is sbatch's --export: "ALL", "NONE", or a comma-separated
	// list that may start with either and names variables (NAME or
	// NAME=value) to pass.
	Export string `json:"export,omitempty"`
	// Begin and Deadline are Slurm times as written ("now+1hour",
	// "2026-12-24T18:00", "16:00"), resolved against the submission time
	// (spec.ParseSlurmDate).
	Begin    string `json:"begin,omitempty"`
	Deadline string `json:"deadline,omitempty"`
	// Comment and Reservation are sbatch's --comment and --reservation.
	Comment     string `json:"comment,omitempty"`
	Reservation string `json:"reservation,omitempty"`
	// SubmitDir is the directory `gf submit` ran in (sbatch's
	// SLURM_SUBMIT_DIR). The job runs there when WorkDir is empty and the
	// site's roots allow it, else in its own directory.
	SubmitDir string `json:"submit_dir,omitempty"`
	// Award is the award the job is charged to and AwardSites the sites
	// it allows (empty: any); the API sets both from the project's
	// current award at submission, whatever the body says.
	Award      string   `json:"award,omitempty"`
	AwardSites []string `json:"award_sites,omitempty"`
	// Lineage is the model the job trains, for the AI Act ledger.
	Lineage *ModelLineage `json:"lineage,omitempty"`
}

// JobArray is a Slurm job array (--array=0-99:2%4): the task indices, as
// ranges, and how many tasks may run at once.
type JobArray struct {
	Ranges []ArrayRange `json:"ranges"`
	// Throttle is the most tasks that run at once; 0 is no limit.
	Throttle int `json:"throttle,omitempty"`
}

// ArrayRange is the indices First, First+Step, ... up to Last.
type ArrayRange struct {
	First int `json:"first"`
	Last  int `json:"last"`
	Step  int `json:"step,omitempty"` // 0 is 1
}

// Indices returns the array's task indices in increasing order, each once.
func (a *JobArray) Indices() []int {
	seen := map[int]bool{}
	var out []int
	for _, r := range a.Ranges {
		step := max(r.Step, 1)
		for i := r.First; i <= r.Last && i >= r.First; i += step {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	for i := 1; i < len(out); i++ { // insertion sort: the ranges are mostly in order
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// String writes the array as sbatch's --array value.
func (a *JobArray) String() string {
	var b strings.Builder
	for i, r := range a.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", r.First)
		if r.Last != r.First {
			fmt.Fprintf(&b, "-%d", r.Last)
			if r.Step > 1 {
				fmt.Fprintf(&b, ":%d", r.Step)
			}
		}
	}
	if a.Throttle > 0 {
		fmt.Fprintf(&b, "%%%d", a.Throttle)
	}
	return b.String()
}

// Dependency kinds, as sbatch's --dependency names them.
const (
	DependAfter      = "after"      // the jobs have started (plus Minutes)
	DependAfterAny   = "afterany"   // the jobs have ended, however
	DependAfterOK    = "afterok"    // the jobs have ended with exit code 0
	DependAfterNotOK = "afternotok" // the jobs have ended otherwise
	DependSingleton  = "singleton"  // no other job of the same name and user runs
)

// Dependency is a job's --dependency: conditions that all must hold (sbatch's
// ","), or of which one suffices (Any, sbatch's "?").
type Dependency struct {
	Any        bool                  `json:"any,omitempty"`
	Conditions []DependencyCondition `json:"conditions"`
}

// DependencyCondition is one kind of dependency on some jobs.
type DependencyCondition struct {
	Type string          `json:"type"`
	Jobs []DependencyJob `json:"jobs,omitempty"` // none for singleton
}

// DependencyJob names a job ("1234") or one task of an array ("1234_7");
// Minutes (for "after" only) delays the condition past the job's start.
type DependencyJob struct {
	ID      string `json:"id"`
	Minutes int    `json:"minutes,omitempty"`
}

// JobSignal is --signal=[B:]SIG@SECS: send Name (e.g. "USR1") Seconds
// before the walltime ends, to the batch shell only when BatchOnly.
type JobSignal struct {
	Name      string `json:"name"`
	Seconds   int    `json:"seconds"`
	BatchOnly bool   `json:"batch_only,omitempty"`
}

// Duration is a time.Duration that encodes as Go duration text ("1h30m") in
// JSON and accepts that text or a number of seconds when decoding.
type Duration time.Duration

// MarshalJSON encodes d as a string such as "1h30m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// UnmarshalJSON accepts "1h30m", "90m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		v, err := time.ParseDuration(strings.Trim(s, `"`))
		if err != nil {
			return fmt.Errorf("invalid duration %s: %v", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if _, err := fmt.Sscanf(s, "%g", &secs); err != nil {
		return fmt.Errorf("invalid duration %s: want text like \"1h30m\" or seconds", s)
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// Job is a submitted job with everything the control plane knows about it.
type Job struct {
	ID             JobID       `json:"id"`
	Name           string      `json:"name"`
	Project        string      `json:"project"`
	Org            string      `json:"org"`
	User           string      `json:"user"`
	Spec           JobSpec     `json:"spec"`
	State          State       `json:"state"`
	Reason         string      `json:"reason,omitempty"` // why it waits, or why it ended
	Site           string      `json:"site,omitempty"`
	Alloc          *Allocation `json:"allocation,omitempty"`
	SubmitTime     time.Time   `json:"submit_time"`
	StartTime      *time.Time  `json:"start_time,omitempty"`
	EndTime        *time.Time  `json:"end_time,omitempty"`
	ExitCode       *int        `json:"exit_code,omitempty"`
	Signal         string      `json:"signal,omitempty"`
	Attempt        int         `json:"attempt"` // 0 on first run; incremented on each requeue
	IdempotencyKey string      `json:"idempotency_key,omitempty"`
	Handle         string      `json:"handle,omitempty"` // driver's own id (pid, Slurm job id)
	EstimatedStart *time.Time  `json:"estimated_start,omitempty"`
	UpdateTime     time.Time   `json:"update_time"`
	// ArrayJobID and ArrayTaskID place a task of a job array: the array's
	// id (that of its first task, as in Slurm) and the task's index. Both
	// are unset for a job that is not an array task.
	ArrayJobID  JobID `json:"array_job_id,omitempty"`
	ArrayTaskID *int  `json:"array_task_id,omitempty"`
	// Warnings are what the submission did other than as written (a
	// partition the network does not have, a site QoS name no table
	// maps); only the answer to a submission carries them. Not stored.
	Warnings []string `json:"warnings,omitempty"`
}

// DisplayID is the id as Slurm users know it: "1234_7" for task 7 of array
// 1234, else "1234".
func (j Job) DisplayID() string {
	if j.ArrayTaskID != nil {
		return fmt.Sprintf("%d_%d", int64(j.ArrayJobID), *j.ArrayTaskID)
	}
	return j.ID.String()
}

// Reasons a pending job gives that are not about placement, named as
// squeue names them.
const (
	ReasonDependency               = "Dependency"
	ReasonDependencyNeverSatisfied = "DependencyNeverSatisfied"
	ReasonArrayTaskLimit           = "JobArrayTaskLimit"
	ReasonBeginTime                = "BeginTime"
)

// Requeueable reports whether the job may be put back to pending after its
// run was lost (controller restart, site failure, preemption).
func (j *Job) Requeueable() bool { return j.Spec.Checkpointable || j.Spec.Preemptible }

// Event is one entry of a job's history.
type Event struct {
	JobID   JobID     `json:"job_id"`
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // submitted, started, ended, cancelled, requeued, reason...
	State   State     `json:"state,omitempty"`
	Message string    `json:"message,omitempty"`
}

// Allocation is where a job runs: a site and, per node, the accelerators it
// holds there.
//
// Most allocations lie in one pool, which Pool names. A gang that spans
// several pools of one model at one site (a whole-site job) has Pool
// listing them, comma-separated ("train,train2"; see Pools), and each
// node's name says its pool ("train2-0007": NodePool).
type Allocation struct {
	Site  string      `json:"site"`
	Pool  string      `json:"pool,omitempty"`
	Nodes []NodeAlloc `json:"nodes"`
}

// PoolSep separates the pools of an allocation that spans several.
const PoolSep = ","

// Pools lists the pools the allocation holds nodes in: one for most,
// several for a gang across pools, none when Pool is empty.
func (a *Allocation) Pools() []string {
	if a == nil || a.Pool == "" {
		return nil
	}
	return strings.Split(a.Pool, PoolSep)
}

// FirstPool is the pool of a one-pool allocation, or the first of those
// a gang across pools holds: all of one model and node size, so the one
// to read the model from.
func (a *Allocation) FirstPool() string {
	if a == nil {
		return ""
	}
	p, _, _ := strings.Cut(a.Pool, PoolSep)
	return p
}

// NodePool is the pool a node belongs to, from its name as the scheduler
// makes them ("POOL-NNNN" → "POOL"); "" when the name has no '-'.
func NodePool(node string) string {
	k := strings.LastIndexByte(node, '-')
	if k < 0 {
		return ""
	}
	return node[:k]
}

// NodeAlloc is the share of one node given to a job.
type NodeAlloc struct {
	Node   string `json:"node"`
	Accels []int  `json:"accelerators"`    // device indices on the node
	Milli  Milli  `json:"milli,omitempty"` // for a fractional share of Accels[0]; 0 = whole devices
}

// Accelerators counts the accelerator thousandths held by the allocation.
func (a *Allocation) Accelerators() Milli {
	if a == nil {
		return 0
	}
	var m Milli
	for _, n := range a.Nodes {
		if n.Milli > 0 {
			m += n.Milli
		} else {
			m += Milli(len(n.Accels)) * 1000
		}
	}
	return m
}

// Site kinds.
const (
	SiteLocal       = "local"
	SiteFactory     = "factory"
	SiteGigafactory = "gigafactory"
	SiteAntenna     = "antenna"
)

// Site states for operators' lifecycle.
const (
	SiteActive   = "active"
	SiteDraining = "draining"
	SiteDown     = "down"
)

// Site is one compute centre (or access point) of the federation.
type Site struct {
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	Kind              string            `json:"kind"`
	Country           string            `json:"country"`
	City              string            `json:"city,omitempty"` // free text, as the site's sources name it
	Pools             []Pool            `json:"pools"`
	PricePerAccelHour float64           `json:"price_per_accelerator_hour"`
	PUE               float64           `json:"pue"`
	CarbonGPerKWh     float64           `json:"carbon_g_per_kwh,omitempty"`
	Driver            string            `json:"driver"`
	DriverOptions     map[string]string `json:"driver_options,omitempty"`
	State             string            `json:"state"`
	DefaultWalltime   Duration          `json:"default_walltime,omitempty"`
	MaxWalltime       Duration          `json:"max_walltime,omitempty"`
	Accelerators      int               `json:"accelerators"` // total, filled by Totals
	AssumedSize       bool              `json:"assumed_size,omitempty"`
	Source            string            `json:"source,omitempty"`
	// QoSMap maps the site's own QoS names ("boost_qos_dbg") to
	// Gigafactory's (QoSPlayground...), for scripts written for the site.
	QoSMap map[string]string `json:"qos_map,omitempty"`
	// Load is what the site holds now (the API fills it; absent in
	// configuration).
	Load *SiteLoad `json:"load,omitempty"`
}

// SiteLoad is a site's current load: the jobs running there, the pending
// jobs routed to it, and the accelerators in use, by pool.
type SiteLoad struct {
	Running int `json:"running"`
	Pending int `json:"pending"`
	// InUse counts the accelerators held by running jobs (fractional
	// shares in thousandths summed).
	InUse float64    `json:"accelerators_in_use"`
	Pools []PoolLoad `json:"pools,omitempty"`
	// Queued are the first pending jobs routed to the site, by id (only
	// when one site is asked for); Pending counts them all.
	Queued []JobID `json:"queued,omitempty"`
}

// PoolLoad is one pool's share of a SiteLoad.
type PoolLoad struct {
	Name  string  `json:"name"`
	InUse float64 `json:"accelerators_in_use"`
	// Nodes holds the accelerators in use on each node, by the node's
	// index in the pool (only when one site is asked for).
	Nodes []float64 `json:"nodes,omitempty"`
}

// Totals returns the number of accelerators over all pools.
func (s *Site) Totals() int {
	n := 0
	for _, p := range s.Pools {
		n += p.Nodes * p.AccelPerNode
	}
	return n
}

// Pool is a set of identical nodes at a site.
type Pool struct {
	Name          string `json:"name"`
	Model         string `json:"model"`
	AccelPerNode  int    `json:"accelerators_per_node"`
	Nodes         int    `json:"nodes"`
	NodesPerBlock int    `json:"nodes_per_block,omitempty"` // leaf switch / NVLink domain; 0 = one block
	BlocksPerPod  int    `json:"blocks_per_pod,omitempty"`  // spine; 0 = one pod
	CPUsPerNode   int    `json:"cpus_per_node,omitempty"`
	MemMiBPerNode int    `json:"mem_mib_per_node,omitempty"`
	PowerW        int    `json:"accelerator_power_w,omitempty"` // board power per accelerator
	// Features are the names a job's --constraint may ask for ("ib",
	// "highmem"); the pool's model counts as one too.
	Features []string `json:"features,omitempty"`
	// ModelAliases are the short names users may type for Model ("h100",
	// "nvidia-h100"); the API fills them when it lists sites. Not config.
	ModelAliases []string `json:"model_aliases,omitempty"`
}

// Organisation kinds.
const (
	OrgResearch = "research"
	OrgSME      = "sme"
	OrgStartup  = "startup"
	OrgIndustry = "industry"
	OrgPublic   = "public"
)

// ValidOrgKind reports whether k is a known organisation kind.
func ValidOrgKind(k string) bool {
	switch k {
	case OrgResearch, OrgSME, OrgStartup, OrgIndustry, OrgPublic:
		return true
	}
	return false
}

// Org is an organisation: a university, company or public body.
type Org struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Country   string    `json:"country"`
	CreatedAt time.Time `json:"created_at"`
}

// Project belongs to an organisation and is what jobs are charged to.
type Project struct {
	Name           string    `json:"name"`
	Org            string    `json:"org"`
	Description    string    `json:"description,omitempty"`
	BudgetAccelHrs float64   `json:"budget_accelerator_hours,omitempty"` // 0 = unlimited
	CreatedAt      time.Time `json:"created_at"`
}

// Roles a user may hold: RoleAdmin is the operators' global role;
// RoleOrgAdmin administers one organisation (its projects, users and
// jobs) and nothing outside it; RoleUser submits and cancels their own
// jobs.
const (
	RoleAdmin    = "admin"
	RoleOrgAdmin = "org-admin"
	RoleUser     = "user"
)

// Token is an API token as it may be listed: never its secret.
type Token struct {
	ID        int64      `json:"id"`
	User      string     `json:"user"`
	Label     string     `json:"label"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	// Scope is what the token may do within its user's role: read (GET
	// only), submit (also submit and cancel jobs) or admin (all the user
	// may). A token never exceeds its user's role.
	Scope string `json:"scope,omitempty"`
	// ExpiresAt is when the token stops authenticating; nil: never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Token scopes, narrowest first.
const (
	ScopeRead   = "read"
	ScopeSubmit = "submit"
	ScopeAdmin  = "admin"
)

// User is a person or service account.
type User struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Org   string `json:"org,omitempty"`
	Role  string `json:"role"`
	// Kind is UserPerson (the default, also when empty) or UserService: a
	// service account, whose tokens are for pipelines (no federated login,
	// no tokens of its own making).
	Kind string `json:"kind,omitempty"`
	// Sites are the sites an operator (RoleOperator) runs; empty for
	// every other role.
	Sites     []string  `json:"sites,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// User kinds.
const (
	UserPerson  = "person"
	UserService = "service"
)

// Step is the distance between the array's indices when they are evenly
// spaced (SLURM_ARRAY_TASK_STEP), else 1.
func (a *JobArray) Step() int {
	idx := a.Indices()
	if len(idx) < 2 {
		return 1
	}
	step := idx[1] - idx[0]
	for i := 2; i < len(idx); i++ {
		if idx[i]-idx[i-1] != step {
			return 1
		}
	}
	return step
}

// Export is a parsed sbatch --export: whether the environment at large
// passes (All), the names passed from it otherwise, and the variables it
// sets.
type Export struct {
	All   bool
	Names []string
	Set   map[string]string
}

// ParseExport reads sbatch's --export: "ALL" (the default, also for ""),
// "NONE", or a comma-separated list of NAME and NAME=value that may start
// with ALL or NONE; a list without ALL passes only what it names, as
// sbatch does.
func ParseExport(s string) Export {
	e := Export{All: true, Set: map[string]string{}}
	if strings.TrimSpace(s) == "" {
		return e
	}
	e.All = false
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case i == 0 && strings.EqualFold(item, "ALL"):
			e.All = true
		case i == 0 && strings.EqualFold(item, "NONE"), item == "":
		default:
			if k, v, ok := strings.Cut(item, "="); ok {
				e.Set[k] = v
			} else {
				e.Names = append(e.Names, item)
			}
		}
	}
	return e
}
