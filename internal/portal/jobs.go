package portal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
)

func jobFilter(site string, st core.State) client.JobFilter {
	return client.JobFilter{Site: site, States: []core.State{st}, Limit: 100}
}

type jobsData struct {
	Jobs   []core.Job
	All    bool
	More   string // the next page's cursor
	Cursor string
}

// jobs lists the viewer's jobs (the API's list: one's own; an org-admin
// their organisation's; an admin all), active ones unless all=1.
func (p *Portal) jobs(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	pg := page{Title: "My jobs", Nav: "jobs", Live: true}
	q := r.URL.Query()
	f := client.JobFilter{Limit: 100}
	all := q.Get("all") == "1"
	if !all {
		f.States = []core.State{core.StatePending, core.StateStarting, core.StateRunning}
	}
	if s.me.Role != core.RoleUser {
		f.User = s.me.Name // "my" jobs, whoever else the viewer may see
	}
	list, err := s.c.ListJobs(r.Context(), f, q.Get("cursor"))
	if err != nil {
		p.fail(w, r, "jobs", pg, err)
		return
	}
	pg.Data = jobsData{Jobs: list.Items, All: all, More: list.NextCursor, Cursor: q.Get("cursor")}
	p.render(w, r, http.StatusOK, "jobs", pg)
}

// priority is engine.PriorityBreakdown as the API writes it.
type priority struct {
	Total   float64 `json:"priority"`
	Factors []struct {
		Name   string  `json:"name"`
		Value  float64 `json:"value"`
		Weight float64 `json:"weight"`
		Points float64 `json:"points"`
		Note   string  `json:"note"`
	} `json:"factors"`
}

// route is the broker's decision as the API writes it.
type route struct {
	Winner string `json:"winner"`
	Reason string `json:"reason"`
	Why    string `json:"why"`
	Moves  int    `json:"moves"`
	Sites  []struct {
		Site       string  `json:"site"`
		Filtered   bool    `json:"filtered"`
		Filter     string  `json:"filter"`
		Reason     string  `json:"reason"`
		Score      float64 `json:"score"`
		Components []struct {
			Name  string  `json:"name"`
			Score float64 `json:"score"`
		} `json:"components"`
	} `json:"sites"`
}

type jobData struct {
	Job      core.Job
	Status   client.Status
	Priority *priority
	Route    *route
	Events   []core.Event
	Active   bool
	Ended    bool
	Log      string // the output so far, for a job not running (or no script)
	LogError string
}

func (p *Portal) job(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	ref := r.PathValue("id")
	pg := page{Title: "Job " + ref, Nav: "jobs", Live: true}
	j, err := s.c.GetJobRef(r.Context(), ref)
	if err != nil {
		p.fail(w, r, "job", pg, err)
		return
	}
	d := jobData{Job: *j, Active: !j.State.Terminal(), Ended: j.State.Terminal()}
	if ex, err := s.c.Explain(r.Context(), j.ID); err == nil {
		d.Status = ex.Status
		if raw, ok := ex.Extra["priority"]; ok {
			var pr priority
			if json.Unmarshal(raw, &pr) == nil {
				d.Priority = &pr
			}
		}
		if raw, ok := ex.Extra["route"]; ok {
			var rt route
			if json.Unmarshal(raw, &rt) == nil {
				d.Route = &rt
			}
		}
	}
	d.Events, _ = s.c.JobEvents(r.Context(), j.ID)
	if j.State.Terminal() {
		d.Log, d.LogError = p.readLog(r, s, j.ID)
	}
	pg.Data = d
	// An ended job's page is final: no live updates, the log is whole.
	pg.Live = !j.State.Terminal()
	p.render(w, r, http.StatusOK, "job", pg)
}

// maxLogShown bounds the output an ended job's page shows (its tail).
const maxLogShown = 256 << 10

func (p *Portal) readLog(r *http.Request, s *session, id core.JobID) (string, string) {
	rc, err := s.c.Logs(r.Context(), id, "stdout", 0, false)
	if err != nil {
		return "", err.Error()
	}
	defer rc.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		b.Write(buf[:n])
		if b.Len() > 2*maxLogShown {
			tail := b.String()[b.Len()-maxLogShown:]
			b.Reset()
			b.WriteString(tail)
		}
		if err != nil {
			break
		}
	}
	out := b.String()
	if len(out) > maxLogShown {
		out = "[… earlier output cut: the page shows the last 256 KiB; gf logs prints all]\n" + out[len(out)-maxLogShown:]
	}
	return out, ""
}

// followLog streams a job's output as server-sent events, a line each,
// until the job has ended and its output is drained; then an "end" event.
func (p *Portal) followLog(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	j, err := s.c.GetJobRef(r.Context(), r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	sse, ok := startSSE(w)
	if !ok {
		return
	}
	// The API answers 409 until the job starts: wait for it.
	for j.State == core.StatePending || j.State == core.StateStarting {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(time.Second):
		}
		if j, err = s.c.GetJobRef(r.Context(), r.PathValue("id")); err != nil {
			sse.event("end", "Reading the job failed: "+err.Error())
			return
		}
		sse.comment("waiting for the job to start")
	}
	rc, err := s.c.Logs(r.Context(), j.ID, "stdout", 0, true)
	if err != nil {
		sse.event("end", "No log: "+err.Error())
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		sse.event("", sc.Text())
	}
	final, err := s.c.GetJobRef(r.Context(), r.PathValue("id"))
	msg := "The job has ended; the log is complete."
	if err == nil {
		msg = fmt.Sprintf("The job has ended (%s); the log is complete.", final.State)
	}
	sse.event("end", msg)
}

func (p *Portal) cancelJob(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	ref := r.PathValue("id")
	if _, err := s.c.Cancel(r.Context(), ref); err != nil {
		p.fail(w, r, "job", page{Title: "Job " + ref, Nav: "jobs", Data: jobData{}}, err)
		return
	}
	http.Redirect(w, r, "/jobs/"+url.PathEscape(ref)+"?done="+url.QueryEscape("Job "+ref+" cancelled."), http.StatusSeeOther)
}

type submitData struct {
	Projects []core.Project
	Sites    []core.Site
	Form     url.Values
	Warnings []string
}

func (p *Portal) submitPage(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "submit", page{Title: "Submit a job", Nav: "submit", Data: p.submitData(r, url.Values{})})
}

func (p *Portal) submitData(r *http.Request, form url.Values) submitData {
	s := sessionFrom(r)
	d := submitData{Form: form}
	d.Projects, _ = s.c.Projects(r.Context(), "")
	d.Sites, _ = s.c.Sites(r.Context())
	return d
}

// submit takes a pasted batch script (#SBATCH directives, as sbatch reads
// it) or the form's fields, and submits through the API.
func (p *Portal) submit(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	pg := page{Title: "Submit a job", Nav: "submit"}
	form := r.PostForm
	js, warnings, err := specFromForm(form)
	if err != nil {
		pg.Error = err.Error()
		pg.Data = p.submitData(r, form)
		p.render(w, r, http.StatusUnprocessableEntity, "submit", pg)
		return
	}
	j, err := s.c.Submit(r.Context(), js, form.Get("idempotency"))
	if err != nil {
		pg.Data = p.submitData(r, form)
		p.fail(w, r, "submit", pg, err)
		return
	}
	msg := "Submitted batch job " + j.DisplayID() + "."
	for _, w := range append(warnings, j.Warnings...) {
		msg += " Warning: " + w
	}
	http.Redirect(w, r, "/jobs/"+url.PathEscape(j.DisplayID())+"?done="+url.QueryEscape(msg), http.StatusSeeOther)
}

// specFromForm builds the job: the script when one is pasted (its
// directives, then the form's project and site when it names none), else
// the command and the fields.
func specFromForm(f url.Values) (core.JobSpec, []string, error) {
	var js core.JobSpec
	var warnings []string
	script := strings.ReplaceAll(f.Get("script"), "\r\n", "\n")
	cmd := strings.TrimSpace(f.Get("command"))
	switch {
	case strings.TrimSpace(script) != "":
		if !strings.HasPrefix(script, "#!") {
			return js, nil, fmt.Errorf("script: a batch script starts with #! (e.g. #!/bin/bash), as sbatch requires")
		}
		var err error
		js, warnings, err = spec.ParseScript("script", []byte(script))
		if err != nil {
			return js, nil, err
		}
	case cmd != "":
		js = core.JobSpec{Command: []string{"/bin/sh", "-c", cmd}, Name: f.Get("name")}
		if js.Name == "" {
			js.Name = strings.Fields(cmd)[0]
		}
		if a := strings.TrimSpace(f.Get("accelerators")); a != "" {
			v, err := strconv.ParseFloat(a, 64)
			if err != nil || v < 0 {
				return js, nil, fmt.Errorf("accelerators: %q is not a number of accelerators (0, 1, 0.5, 8 …)", a)
			}
			js.Accelerators = core.Milli(v * 1000)
		}
		if t := strings.TrimSpace(f.Get("walltime")); t != "" {
			d, err := spec.ParseWalltime(t)
			if err != nil {
				return js, nil, fmt.Errorf("walltime: %v", err)
			}
			js.Walltime = core.Duration(d)
		}
	default:
		return js, nil, fmt.Errorf("script: paste a batch script, or give a command")
	}
	if js.Project == "" {
		js.Project = f.Get("project")
	}
	if js.Site == "" {
		js.Site = f.Get("site")
	}
	return js, warnings, nil
}
