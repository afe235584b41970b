// Package driver defines how Gigafactory runs jobs on a site's real engine.
//
// A Driver is deliberately small: start a placed job, cancel it, and report
// what changed since the last poll. Optional capabilities (re-adopting jobs
// after a controller restart, signalling, reading a site's inventory, logs)
// are separate interfaces found by type assertion. Implementations live in
// subpackages (local, slurm, sim) and all pass the conformance suite in
// package drivertest.
package driver

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Driver runs jobs on one site.
type Driver interface {
	// Start launches job (whose Alloc is set) and returns the driver's
	// handle for it (a pid, a Slurm job id). It must not block until the job
	// ends. Start is called at most once per job attempt.
	Start(ctx context.Context, job core.Job) (handle string, err error)
	// Cancel stops the job; its final state arrives through Poll.
	Cancel(ctx context.Context, job core.Job) error
	// Poll returns the state changes observed since the previous call.
	Poll(ctx context.Context) ([]Update, error)
}

// ErrUnknownJob is wrapped by the errors of Cancel and Signal (and, where
// they apply, the optional interfaces) for a job the driver does not know:
// never started by it, nor adopted after a restart. Cancelling a job the
// driver knows but that has already ended is not an error: it does nothing.
var ErrUnknownJob = errors.New("unknown job")

// Update is one observed change of a job's state on a site.
type Update struct {
	JobID    core.JobID
	Attempt  int
	Handle   string
	State    core.State // running or a terminal state
	ExitCode *int
	Signal   string // e.g. "SIGKILL" when the job was killed by a signal
	Reason   string // human-readable cause for failed/timeout/cancelled
	Time     time.Time
}

// Adopter is implemented by drivers that can reattach to jobs they started
// before the controller restarted. For each job given (each was starting or
// running when the controller stopped) Adopt returns an Update: running when
// re-adopted, a terminal state when it ended meanwhile, or StateFailed with
// Reason "controller restarted" when it can no longer be found or followed.
type Adopter interface {
	Adopt(ctx context.Context, jobs []core.Job) ([]Update, error)
}

// Signaler is implemented by drivers that can deliver a signal (for
// checkpoint-before-preemption) without ending the job.
type Signaler interface {
	Signal(ctx context.Context, job core.Job, sig string) error
}

// Inventory is implemented by drivers that can read the site's nodes into
// pools (a Slurm cluster's partitions and gres).
type Inventory interface {
	Pools(ctx context.Context) ([]core.Pool, error)
}

// LogReader is implemented by drivers that keep a job's output. stream is
// "stdout" or "stderr".
type LogReader interface {
	Logs(ctx context.Context, job core.Job, stream string) (io.ReadCloser, error)
}

// Closer is implemented by drivers holding resources to release at shutdown.
type Closer interface {
	Close() error
}

// ErrUnavailable marks an error as the site being unreachable for now
// (its API down, slow or answering 5xx after retries): the operation may
// succeed later and nothing was decided about the job. Drivers wrap such
// errors with it; the daemon then backs off from the site instead of
// failing the job.
var ErrUnavailable = errors.New("site unavailable")

// Transient reports whether err is the site's failure rather than the
// job's: ErrUnavailable; a network fault (a *net.OpError, a DNS error, any
// net.Error that timed out, or one of the connection errnos); the context
// of the call ended; or the machine out of a shared resource (no memory,
// processes, file descriptors or disk space). The daemon backs off from
// the site and retries the job later.
//
// Anything else is the job's own failure and fails that job alone with
// the error as its reason: an argument list too long (E2BIG), a missing
// program, working directory or output directory (ENOENT, ENOTDIR), a
// file that is not executable (ENOEXEC, EACCES, EPERM), a path the driver
// refuses. A bare syscall.Errno satisfies net.Error, so "any net.Error"
// would make all of these the site's fault: one tenant's bad job would
// take the site away from everyone.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) {
		return true
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return siteErrno(errno)
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// siteErrno reports whether errno is a fault of the site (its network or
// its machine's shared resources), not of one job.
func siteErrno(errno syscall.Errno) bool {
	switch errno {
	case syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.ETIMEDOUT,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.EPIPE,
		syscall.EAGAIN, syscall.ENOMEM, syscall.EMFILE, syscall.ENFILE, syscall.ENOSPC:
		return true
	}
	return false
}
