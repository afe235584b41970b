package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/depend"
	"github.com/gigafactory/gigafactory/internal/jobpath"
	"github.com/gigafactory/gigafactory/internal/store"
)

// expandArray turns an array submission into its tasks, as sbatch does:
// one job per index, all under the placeholder array id ph (negative; the
// store gives the array its first task's id). A job that is no array is
// returned alone.
func expandArray(j core.Job, ph core.JobID) []core.Job {
	if j.Spec.Array == nil {
		return []core.Job{j}
	}
	idx := j.Spec.Array.Indices()
	out := make([]core.Job, len(idx))
	for k, i := range idx {
		t := j
		t.ArrayJobID, t.ArrayTaskID = ph, &idx[k]
		if j.IdempotencyKey != "" {
			t.IdempotencyKey = j.IdempotencyKey + "_" + strconv.Itoa(i)
		}
		out[k] = t
	}
	return out
}

// parseJobRef reads a job id as users write it: "1234", or "1234_7" for
// task 7 of array 1234.
func parseJobRef(raw string) (id core.JobID, task *int, ok bool) {
	base, t, isTask := strings.Cut(raw, "_")
	n, err := strconv.ParseInt(base, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != base {
		return 0, nil, false
	}
	if !isTask {
		return core.JobID(n), nil, true
	}
	i, err := strconv.Atoi(t)
	if err != nil || i < 0 || strconv.Itoa(i) != t {
		return 0, nil, false
	}
	return core.JobID(n), &i, true
}

// lookupJob loads the job a reference names; ErrNotFound when none.
func (s *Server) lookupJob(ctx context.Context, id core.JobID, task *int) (core.Job, error) {
	if task == nil {
		return s.st.GetJob(ctx, id)
	}
	jobs, _, err := s.st.ListJobs(ctx, store.JobFilter{ArrayJobID: id, ArrayTaskID: task, Limit: 1})
	if err != nil {
		return core.Job{}, err
	}
	if len(jobs) == 0 {
		return core.Job{}, store.ErrNotFound
	}
	return jobs[0], nil
}

// checkDependency refuses a dependency on jobs the caller cannot see or
// that do not exist, as sbatch refuses it ("Job dependency problem").
func (s *Server) checkDependency(ctx context.Context, u core.User, sp core.JobSpec, field string) error {
	for _, ref := range depend.Names(sp.Dependency) {
		id, task, ok := parseJobRef(ref)
		if !ok {
			return invalidField(field+"dependency", "%q is not a job id (1234, or 1234_7 for an array task)", ref)
		}
		j, err := s.lookupJob(ctx, id, task)
		if errors.Is(err, store.ErrNotFound) || err == nil && !member(u, j.Org) {
			return invalidField(field+"dependency", "job %s does not exist: a dependency names jobs you can see (gf jobs)", ref)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unknownProject is the error for a project the caller cannot charge,
// listing those they can.
func (s *Server) unknownProject(ctx context.Context, u core.User, name, field string) error {
	var mine []string
	if u.Org != "" || isAdmin(u) {
		org := u.Org
		if isAdmin(u) {
			org = ""
		}
		ps, err := s.st.ListProjects(ctx, org)
		if err != nil {
			return err
		}
		for _, p := range ps {
			mine = append(mine, p.Name)
		}
	}
	if len(mine) == 0 {
		return invalidField(field+"project", "unknown project %q: you have no projects yet; an administrator of your organisation creates them (gf projects)", name)
	}
	return invalidField(field+"project", "unknown project %q: your projects are %s (gf projects)", name, strings.Join(mine, ", "))
}

// interpret applies what a Slurm script asked for in the network's terms
// and says what it could not honour as written: the partition as a site
// (pinning it) or a pool; a site's QoS name through the sites' QoS tables;
// mail with no mailer; a submit directory the site's roots do not allow.
// Each warning says what happens instead.
func (s *Server) interpret(sp *core.JobSpec) []string {
	var warn []string
	sites := s.d.Sites()
	if p := sp.Partition; p != "" {
		site, pool := false, false
		for _, st := range sites {
			if st.ID == p {
				site = true
			}
			for _, pl := range st.Pools {
				if pl.Name == p {
					pool = true
				}
			}
		}
		switch {
		case site && sp.Site == "":
			sp.Site = p
		case site || pool:
		default:
			warn = append(warn, fmt.Sprintf("partition %q: no site or pool of the network has that name; the broker chooses the site (gf sites)", p))
		}
	}
	if q := sp.SiteQoS; q != "" && sp.QoS == "" {
		if mapped, ok := config.MapSiteQoS(sites, sp.Site, q); ok {
			sp.QoS = mapped
		} else {
			warn = append(warn, fmt.Sprintf("qos %q: not a Gigafactory QoS and no site's qos_map names it (or the sites map it differently); the job runs with the default QoS (%s)", q, core.QoSNormal))
		}
	}
	if sp.MailType != "" || sp.MailUser != "" {
		warn = append(warn, "mail_type/mail_user: kept with the job, but this server has no mailer, so no mail is sent (follow the job with gf jobs or gf logs -f)")
	}
	if wd := sp.WorkDir; wd != "" && !path.IsAbs(wd) && path.IsAbs(sp.SubmitDir) {
		// sbatch -D takes a path relative to where sbatch ran.
		joined := path.Join(sp.SubmitDir, wd)
		if jobpath.Check(jobpath.FieldWorkDir, joined, s.pathRoots(sp.Site), false) == nil {
			sp.WorkDir = joined
		} else {
			warn = append(warn, fmt.Sprintf("workdir %q is taken in the job's own directory, not in %s, which the site does not allow jobs to use (its allowed_roots)", wd, sp.SubmitDir))
		}
	}
	if sp.WorkDir == "" && sp.SubmitDir != "" {
		if _, used := jobpath.RunDir(*sp, s.pathRoots(sp.Site)); !used {
			warn = append(warn, fmt.Sprintf("the job runs in its own directory, not in %s: the site allows jobs only under its allowed_roots; its output is read with gf logs", sp.SubmitDir))
		}
	}
	return warn
}

// cancelArray cancels every unfinished task of array id for user u.
func (s *Server) cancelArray(w http.ResponseWriter, r *http.Request, u core.User, first core.Job) error {
	tasks, err := s.st.ArrayTasks(r.Context(), first.ArrayJobID)
	if err != nil {
		return err
	}
	out := make([]core.Job, 0, len(tasks))
	for _, t := range tasks {
		if !canCancelJob(u, t) {
			// An operator cancels the tasks placed at their sites only.
			continue
		}
		if t.State.Terminal() {
			out = append(out, t)
			continue
		}
		// One entry per task, each with its task's change.
		c, err := s.d.CancelAudited(r.Context(), t.ID, u.Name, &store.AuditEntry{Actor: u.Name, Action: "job.cancel", Object: "job/" + t.ID.String(),
			Detail: fmt.Sprintf("task %s of array %d", t.DisplayID(), first.ArrayJobID)})
		if err != nil {
			return err
		}
		out = append(out, c)
	}
	return writeJSON(w, http.StatusOK, list[core.Job]{Items: out})
}
