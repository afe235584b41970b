package slurm

// This file is the only one that knows slurmrestd's JSON. Every OpenAPI
// version gets a dialect that turns the driver's neutral request into a
// body and answers into the neutral jobInfo/nodeInfo. Slurm 22.05 offers
// v0.0.38 only (v0.0.36/37 are older still); 23.02 added v0.0.39, 23.11
// v0.0.40, 24.05 v0.0.41, 24.11 v0.0.42, and from v0.0.39 on numbers become
// {"set","infinite","number"} objects, job_state becomes a list and
// exit_code an object: add a dialect for each, register it in dialects,
// and the negotiation picks the newest both sides speak.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// submitRequest is a job as the driver asks Slurm for it.
type submitRequest struct {
	Name         string
	Comment      string // the tag, "gf:<id>:<attempt>"
	Partition    string
	Account      string
	WCKey        string
	Nodes        int
	Tasks        int
	GPUsPerNode  int
	GPUType      string // "" = any
	CPUsPerTask  int
	TasksPerNode int
	MemPerNode   *int // MiB; nil = site default, 0 = all of each node's (--mem=0)
	MemPerCPU    int  // MiB; 0 = site default
	Exclusive    bool
	Constraint   string
	Signal       string // --signal as sbatch writes it: [B:]SIG@SECS
	Hint         string
	Reservation  string
	MailType     string
	MailUser     string
	TimeLimit    time.Duration
	WorkDir      string
	Stdout       string
	Stderr       string
	Env          map[string]string
	Script       string
}

// jobInfo is what the driver reads about one Slurm job.
type jobInfo struct {
	ID          int64
	Name        string
	Comment     string
	State       string // base state or flag, upper case: PENDING, RUNNING, COMPLETING, ...
	Reason      string // state_reason: None, Resources, PartitionNodeLimit, ...
	Description string // state_description
	ExitStatus  int    // raw wait status of the batch script
	Start, End  time.Time
	Nodes       string
	Partition   string
}

// nodeInfo is what the driver reads about one node.
type nodeInfo struct {
	Name       string
	Partitions []string
	Gres       string
	State      string
	CPUs       int
	MemMiB     int
}

// dialect maps one OpenAPI version.
type dialect interface {
	Version() string
	PingPath() string
	SubmitPath() string
	SubmitBody(r submitRequest) ([]byte, error)
	// DecodeSubmit returns the job id (0 when none was created) and the
	// errors Slurm attached, which may come with a job id.
	DecodeSubmit(b []byte) (int64, []apiError, error)
	JobsPath(since time.Time) string // zero since: every job
	JobPath(id int64) string
	DecodeJobs(b []byte) ([]jobInfo, error)
	// CancelPath is a DELETE; signal "" ends the job.
	CancelPath(id int64, signal string) string
	NodesPath() string
	DecodeNodes(b []byte) ([]nodeInfo, error)
}

// dialects are the versions this driver speaks, newest first.
var dialects = []dialect{v0038{}}

// pickDialect chooses the newest version both the server (its OpenAPI
// paths) and the driver speak; want forces one.
func pickDialect(paths []string, want string) (dialect, error) {
	have := map[string]bool{}
	for _, p := range paths {
		if rest, ok := strings.CutPrefix(p, "/slurm/"); ok {
			v, _, _ := strings.Cut(rest, "/")
			have[v] = true
		}
	}
	var mine []string
	for _, d := range dialects {
		mine = append(mine, d.Version())
		if (want == "" || want == d.Version()) && have[d.Version()] {
			return d, nil
		}
	}
	var theirs []string
	for v := range have {
		theirs = append(theirs, v)
	}
	sort.Strings(theirs)
	if want != "" {
		return nil, fmt.Errorf("slurmrestd does not offer api_version %s (it offers %v; this driver speaks %v)", want, theirs, mine)
	}
	return nil, fmt.Errorf("no common slurmrestd API version: slurmrestd offers %v, this driver speaks %v (start slurmrestd with -s openapi/v0.0.38)", theirs, mine)
}

// decodeOpenAPIPaths lists the paths of an /openapi/v3 document.
func decodeOpenAPIPaths(b []byte) ([]string, error) {
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode /openapi/v3: %w", err)
	}
	var out []string
	for p := range doc.Paths {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// ---------------------------------------------------------------- v0.0.38

// v0038 is Slurm 22.05's API.
type v0038 struct{}

func (v0038) Version() string    { return "v0.0.38" }
func (v0038) PingPath() string   { return "/slurm/v0.0.38/ping" }
func (v0038) SubmitPath() string { return "/slurm/v0.0.38/job/submit" }
func (v0038) NodesPath() string  { return "/slurm/v0.0.38/nodes" }
func (v0038) JobPath(id int64) string {
	return "/slurm/v0.0.38/job/" + strconv.FormatInt(id, 10)
}

func (v0038) JobsPath(since time.Time) string {
	if since.IsZero() {
		return "/slurm/v0.0.38/jobs"
	}
	// slurmctld answers 304 when no job changed since then, else all jobs.
	return "/slurm/v0.0.38/jobs?update_time=" + strconv.FormatInt(since.Unix(), 10)
}

func (v0038) CancelPath(id int64, signal string) string {
	p := "/slurm/v0.0.38/job/" + strconv.FormatInt(id, 10)
	if signal != "" {
		p += "?signal=" + url.QueryEscape(signal)
	}
	return p
}

type v0038Job struct {
	Name                    string            `json:"name,omitempty"`
	Comment                 string            `json:"comment,omitempty"`
	Partition               string            `json:"partition,omitempty"`
	Account                 string            `json:"account,omitempty"`
	WCKey                   string            `json:"wckey,omitempty"`
	Nodes                   string            `json:"nodes,omitempty"` // a string: an array is ignored
	Tasks                   int               `json:"tasks,omitempty"`
	TasksPerNode            int               `json:"tasks_per_node,omitempty"`
	CPUsPerTask             int               `json:"cpus_per_task,omitempty"`
	MemoryPerNode           *int              `json:"memory_per_node,omitempty"`
	MemoryPerCPU            int               `json:"memory_per_cpu,omitempty"`
	Exclusive               string            `json:"exclusive,omitempty"`
	Constraints             string            `json:"constraints,omitempty"`
	Signal                  string            `json:"signal,omitempty"`
	CPUBindingHint          string            `json:"cpu_binding_hint,omitempty"`
	Reservation             string            `json:"reservation,omitempty"`
	MailType                string            `json:"mail_type,omitempty"`
	MailUser                string            `json:"mail_user,omitempty"`
	Gres                    string            `json:"gres,omitempty"` // per node
	TimeLimit               int               `json:"time_limit,omitempty"`
	Requeue                 bool              `json:"requeue"`
	CurrentWorkingDirectory string            `json:"current_working_directory,omitempty"`
	StandardOutput          string            `json:"standard_output,omitempty"`
	StandardError           string            `json:"standard_error,omitempty"`
	Environment             map[string]string `json:"environment"` // an object, never empty
}

func (v0038) SubmitBody(r submitRequest) ([]byte, error) {
	j := v0038Job{
		Name: r.Name, Comment: r.Comment, Partition: r.Partition, Account: r.Account, WCKey: r.WCKey,
		Tasks: r.Tasks, TasksPerNode: r.TasksPerNode, CPUsPerTask: r.CPUsPerTask,
		MemoryPerNode: r.MemPerNode, MemoryPerCPU: r.MemPerCPU,
		Constraints: r.Constraint, CPUBindingHint: r.Hint, Reservation: r.Reservation,
		MailType: r.MailType, MailUser: r.MailUser,
		// Gigafactory decides whether a lost run is retried; Slurm must not
		// requeue on its own (the job would run twice under one handle).
		Requeue:                 false,
		CurrentWorkingDirectory: r.WorkDir, StandardOutput: r.Stdout, StandardError: r.Stderr,
		Environment: r.Env,
	}
	if r.Exclusive {
		// slurmrestd 22.05 parses the value as sbatch's --exclusive=VALUE
		// and refuses the schema's own "true"; "exclusive" is its word
		// for whole nodes.
		j.Exclusive = "exclusive"
	}
	// Its --signal parser refuses the "B:" prefix (and v0.0.38 has no
	// field for it): the signal reaches the job's steps, as without B:.
	j.Signal = strings.TrimPrefix(r.Signal, "B:")
	if r.Nodes > 0 {
		j.Nodes = strconv.Itoa(r.Nodes)
		if r.Tasks == r.Nodes && r.TasksPerNode == 0 {
			j.TasksPerNode = 1
		}
	}
	if r.GPUsPerNode > 0 {
		j.Gres = "gpu:" + strconv.Itoa(r.GPUsPerNode)
		if r.GPUType != "" {
			j.Gres = "gpu:" + r.GPUType + ":" + strconv.Itoa(r.GPUsPerNode)
		}
	}
	if r.TimeLimit > 0 {
		j.TimeLimit = int((r.TimeLimit + time.Minute - 1) / time.Minute) // minutes, rounded up
	}
	if len(j.Environment) == 0 {
		j.Environment = map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin"}
	}
	return json.Marshal(struct {
		Script string   `json:"script"`
		Job    v0038Job `json:"job"`
	}{r.Script, j})
}

func (v0038) DecodeSubmit(b []byte) (int64, []apiError, error) {
	var r struct {
		JobID  int64      `json:"job_id"`
		Errors []apiError `json:"errors"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, nil, fmt.Errorf("decode submit answer: %w", err)
	}
	return r.JobID, r.Errors, nil
}

func (v0038) DecodeJobs(b []byte) ([]jobInfo, error) {
	var r struct {
		Jobs []struct {
			JobID            int64  `json:"job_id"`
			Name             string `json:"name"`
			Comment          string `json:"comment"`
			JobState         string `json:"job_state"`
			StateReason      string `json:"state_reason"`
			StateDescription string `json:"state_description"`
			ExitCode         *int   `json:"exit_code"`
			StartTime        int64  `json:"start_time"`
			EndTime          int64  `json:"end_time"`
			Nodes            string `json:"nodes"`
			Partition        string `json:"partition"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode jobs: %w", err)
	}
	out := make([]jobInfo, 0, len(r.Jobs))
	for _, j := range r.Jobs {
		ji := jobInfo{
			ID: j.JobID, Name: j.Name, Comment: j.Comment, State: strings.ToUpper(j.JobState),
			Reason: j.StateReason, Description: j.StateDescription,
			Start: unixOrZero(j.StartTime), End: unixOrZero(j.EndTime), Nodes: j.Nodes, Partition: j.Partition,
		}
		if j.ExitCode != nil {
			ji.ExitStatus = *j.ExitCode
		}
		out = append(out, ji)
	}
	return out, nil
}

func (v0038) DecodeNodes(b []byte) ([]nodeInfo, error) {
	var r struct {
		Nodes []struct {
			Name       string   `json:"name"`
			Partitions []string `json:"partitions"`
			Gres       string   `json:"gres"`
			State      string   `json:"state"`
			CPUs       int      `json:"cpus"`
			RealMemory int      `json:"real_memory"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode nodes: %w", err)
	}
	out := make([]nodeInfo, 0, len(r.Nodes))
	for _, n := range r.Nodes {
		out = append(out, nodeInfo{Name: n.Name, Partitions: n.Partitions, Gres: n.Gres, State: n.State, CPUs: n.CPUs, MemMiB: n.RealMemory})
	}
	return out, nil
}

func unixOrZero(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}
