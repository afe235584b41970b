package slurm

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/gigafactory/gigafactory/internal/core"
)

// outcome is what a Slurm job's state means for Gigafactory.
type outcome struct {
	State    core.State // "" = nothing to report yet (pending, completing, ...)
	Reason   string
	ExitCode *int
	Signal   string
	Never    bool // pending for a reason that will not go away: refuse it
}

// neverReasons are pending reasons that will not clear by waiting: the job
// asks for more than the partition, its account or its QOS can ever give.
// Such a job is cancelled in Slurm and reported failed with the reason.
var neverReasons = map[string]string{
	"PartitionNodeLimit":              "more nodes than the partition has",
	"PartitionTimeLimit":              "walltime above the partition's limit",
	"PartitionConfig":                 "the partition cannot satisfy the request",
	"BadConstraints":                  "constraints no node satisfies",
	"InvalidAccount":                  "invalid account",
	"InvalidQOS":                      "invalid QOS",
	"AccountNotAllowed":               "account not allowed in the partition",
	"QOSNotAllowed":                   "QOS not allowed in the partition",
	"DependencyNeverSatisfied":        "dependency can never be satisfied",
	"QOSMaxNodePerJobLimit":           "above the QOS's nodes per job",
	"QOSMaxGRESPerJob":                "above the QOS's GPUs per job",
	"QOSMaxWallDurationPerJobLimit":   "above the QOS's walltime",
	"AssocMaxNodesPerJobLimit":        "above the association's nodes per job",
	"AssocMaxGRESPerJob":              "above the association's GPUs per job",
	"AssocMaxWallDurationPerJobLimit": "above the association's walltime",
}

// mapState maps a Slurm job to Gigafactory's view. See README.md for the
// table. The v0.0.38 job_state is one word: a flag when one is set
// (COMPLETING, CONFIGURING, REQUEUED, ...) hides the base state.
func mapState(j jobInfo) outcome {
	switch j.State {
	case "PENDING":
		if why, ok := neverReasons[j.Reason]; ok {
			return outcome{State: core.StateFailed, Never: true,
				Reason: fmt.Sprintf("refused by Slurm: %s (%s)", why, j.Reason)}
		}
		return outcome{}
	case "RUNNING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "RESIZING":
		return outcome{State: core.StateRunning}
	case "COMPLETED":
		o := exitOutcome(j.ExitStatus)
		o.State = core.StateCompleted
		if o.Signal != "" || (o.ExitCode != nil && *o.ExitCode != 0) {
			o.State = core.StateFailed
		}
		return o
	case "FAILED":
		if why, ok := neverReasons[j.Reason]; ok {
			// Refused at submission; the exit status means nothing.
			return outcome{State: core.StateFailed, Reason: fmt.Sprintf("refused by Slurm: %s (%s)", why, j.Reason)}
		}
		o := exitOutcome(j.ExitStatus)
		o.State = core.StateFailed
		switch {
		case o.Signal != "":
			o.Reason = "killed by " + o.Signal
		case j.Reason != "" && j.Reason != "None" && j.Reason != "NonZeroExitCode":
			o.Reason = "Slurm: " + slurmReason(j)
		case o.ExitCode != nil:
			o.Reason = fmt.Sprintf("exit code %d", *o.ExitCode)
		}
		return o
	case "CANCELLED":
		o := exitOutcome(j.ExitStatus)
		o.State, o.Reason = core.StateCancelled, "cancelled"
		return o
	case "TIMEOUT":
		o := exitOutcome(j.ExitStatus)
		o.State, o.Reason = core.StateTimeout, "walltime exceeded"
		return o
	case "DEADLINE":
		o := exitOutcome(j.ExitStatus)
		o.State, o.Reason = core.StateTimeout, "deadline reached"
		return o
	case "NODE_FAIL":
		return outcome{State: core.StateFailed, Reason: "node failure" + onNodes(j)}
	case "BOOT_FAIL":
		return outcome{State: core.StateFailed, Reason: "node boot failure" + onNodes(j)}
	case "OUT_OF_MEMORY":
		o := exitOutcome(j.ExitStatus)
		o.State, o.Reason = core.StateFailed, "out of memory"
		return o
	case "PREEMPTED":
		return outcome{State: core.StateFailed, Reason: "preempted by Slurm"}
	case "REVOKED":
		return outcome{State: core.StateFailed, Reason: "revoked by Slurm (federation)"}
	}
	// COMPLETING, CONFIGURING, REQUEUED, REQUEUE_HOLD, REQUEUE_FED,
	// SPECIAL_EXIT, STOPPED, RESV_DEL_HOLD, unknown: wait for a state that
	// says more.
	return outcome{}
}

func onNodes(j jobInfo) string {
	if j.Nodes == "" {
		return ""
	}
	return " on " + j.Nodes
}

func slurmReason(j jobInfo) string {
	if j.Description != "" {
		return j.Reason + ": " + j.Description
	}
	return j.Reason
}

// exitOutcome decodes Slurm's exit_code, the batch script's raw wait
// status: "exit 3" reads 768, death by SIGKILL reads 9.
func exitOutcome(status int) outcome {
	ws := syscall.WaitStatus(status)
	switch {
	case ws.Exited():
		c := ws.ExitStatus()
		return outcome{ExitCode: &c}
	case ws.Signaled():
		return outcome{Signal: signalName(ws.Signal())}
	}
	c := status
	return outcome{ExitCode: &c}
}

// signalName is the "SIGKILL" form of s.
func signalName(s syscall.Signal) string {
	names := map[syscall.Signal]string{
		syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
		syscall.SIGILL: "SIGILL", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS",
		syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL", syscall.SIGUSR1: "SIGUSR1",
		syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2", syscall.SIGPIPE: "SIGPIPE",
		syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM", syscall.SIGXCPU: "SIGXCPU",
	}
	if n, ok := names[s]; ok {
		return n
	}
	return "SIG" + strconv.Itoa(int(s))
}

// signalArg normalises "usr1", "SIGUSR1" or "10" for slurmrestd.
func signalArg(sig string) (string, error) {
	s := strings.ToUpper(strings.TrimSpace(sig))
	if s == "" {
		return "", fmt.Errorf("empty signal")
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return "", fmt.Errorf("invalid signal %q", sig)
		}
		return s, nil
	}
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	for i := 1; i < 32; i++ {
		if signalName(syscall.Signal(i)) == s {
			return s, nil
		}
	}
	switch s {
	case "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGURG", "SIGWINCH":
		return s, nil
	}
	return "", fmt.Errorf("unknown signal %q", sig)
}

// tag is what the driver writes into a Slurm job so that it can find the
// job again without the handle: name "<prefix>-<id>" and comment
// "<prefix>:<id>:<attempt>".
type tag struct {
	ID      core.JobID
	Attempt int
}

func (t tag) name(prefix string) string { return prefix + "-" + t.ID.String() }
func (t tag) comment(prefix string) string {
	return fmt.Sprintf("%s:%d:%d", prefix, int64(t.ID), t.Attempt)
}

// parseTag reads a comment written by tag.comment; extra ":" fields are
// allowed for later use.
func parseTag(prefix, comment string) (tag, bool) {
	rest, ok := strings.CutPrefix(comment, prefix+":")
	if !ok {
		return tag{}, false
	}
	f := strings.Split(rest, ":")
	if len(f) < 2 {
		return tag{}, false
	}
	id, err1 := strconv.ParseInt(f[0], 10, 64)
	at, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || id <= 0 || at < 0 {
		return tag{}, false
	}
	return tag{core.JobID(id), at}, true
}

// gpuGres is one GPU entry of a node's gres string.
type gpuGres struct {
	Type  string // "" when untyped
	Count int
}

// parseGres reads the GPUs of a node's gres string, such as
// "gpu:a100:4(S:0)", "gpu:4", "gpu:h100:8,gpu:a100:2(S:0-1)" or
// "gpu:a100:4(S:0),nic:1". Entries of other gres names are skipped.
func parseGres(s string) ([]gpuGres, error) {
	var out []gpuGres
	for _, item := range splitTopLevel(s) {
		item = strings.TrimSpace(item)
		if item == "" || item == "(null)" || item == "N/A" {
			continue
		}
		if i := strings.IndexByte(item, '('); i >= 0 {
			item = item[:i]
		}
		f := strings.Split(item, ":")
		if f[0] != "gpu" {
			continue
		}
		g := gpuGres{Count: 1}
		switch len(f) {
		case 1:
		case 2:
			n, err := parseCount(f[1])
			if err != nil {
				g.Type = f[1] // "gpu:a100" means one
			} else {
				g.Count = n
			}
		default:
			g.Type = f[1]
			n, err := parseCount(f[2])
			if err != nil {
				return nil, fmt.Errorf("gres %q: bad count %q", s, f[2])
			}
			g.Count = n
		}
		if g.Count > 0 {
			out = append(out, g)
		}
	}
	return out, nil
}

// splitTopLevel splits on commas outside parentheses ("(S:0-1)" holds none
// in practice, "(IDX:0,2)" does).
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// parseCount reads "4", "4K" style counts.
func parseCount(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1024, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1024*1024, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad count %q", s)
	}
	return n * mult, nil
}
