package portal

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/sim"
)

// The digital twin's view: the reports of gf simulate runs the server
// knows about, each a folder of Options.TwinDir holding the summary.json
// that gf simulate --out DIR writes. Folders are read through an os.Root
// over TwinDir, so no name (.., a symbolic link) reaches outside it.

// twinSummaryMax bounds the summary.json the view reads.
const twinSummaryMax = 16 << 20

// twinPolicy is one policy's key figures, written for the table.
type twinPolicy struct {
	*sim.PolicyResult
	WaitMean, WaitP50, WaitP99 string
	JCTMean, JCTP50, JCTP99    string
	// KWh, TCO2e and Cost are the energy's figures ("–" without them).
	KWh, TCO2e, Cost string
}

// twinRun is one report.
type twinRun struct {
	Name     string
	Modified time.Time
	Summary  sim.Summary
	Policies []twinPolicy
	Error    string // the summary could not be read
}

type twinData struct {
	Dir  string
	Runs []twinRun
	// One is the report of /twin/{name}.
	One *twinRun
}

// validTwinName accepts a folder name of TwinDir: no separator, no dot
// folder, nothing hidden.
func validTwinName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\`) && !strings.HasPrefix(name, ".") && !strings.Contains(name, "..") && len(name) <= 255
}

// twinRuns reads every report under dir, newest first; a missing dir has
// none.
func twinRuns(dir string) ([]twinRun, error) {
	if dir == "" {
		return nil, nil
	}
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return nil, err
	}
	var runs []twinRun
	for _, e := range entries {
		if !e.IsDir() || !validTwinName(e.Name()) {
			continue
		}
		run, ok := readTwin(root, e.Name())
		if ok {
			runs = append(runs, run)
		}
	}
	slices.SortStableFunc(runs, func(a, b twinRun) int {
		return cmp.Or(b.Modified.Compare(a.Modified), strings.Compare(a.Name, b.Name))
	})
	return runs, nil
}

// readTwin reads name/summary.json under root; ok is false when there is
// none (the folder is not a report).
func readTwin(root *os.Root, name string) (twinRun, bool) {
	run := twinRun{Name: name}
	f, err := root.Open(name + "/summary.json")
	if err != nil {
		return run, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return run, false
	}
	run.Modified = st.ModTime()
	raw, err := io.ReadAll(io.LimitReader(f, twinSummaryMax+1))
	switch {
	case err != nil:
		run.Error = "reading summary.json: " + err.Error()
	case len(raw) > twinSummaryMax:
		run.Error = "summary.json is larger than 16 MiB"
	default:
		if err := json.Unmarshal(raw, &run.Summary); err != nil {
			run.Error = "summary.json: " + err.Error()
		}
	}
	for _, pr := range run.Summary.Policies {
		if pr == nil {
			continue
		}
		tp := twinPolicy{PolicyResult: pr,
			WaitMean: secs(pr.Wait.Mean), WaitP50: secs(pr.Wait.P50), WaitP99: secs(pr.Wait.P99),
			JCTMean: secs(pr.JCT.Mean), JCTP50: secs(pr.JCT.P50), JCTP99: secs(pr.JCT.P99), KWh: "–", TCO2e: "–", Cost: "–"}
		if e := pr.Energy; e != nil {
			tp.KWh, tp.TCO2e, tp.Cost = amount(e.KWh), amount(e.TCO2e), amount(e.CostEUR)
		}
		run.Policies = append(run.Policies, tp)
	}
	return run, true
}

// secs writes a span of seconds in the unit that reads best.
func secs(s float64) string {
	switch {
	case s < 60:
		return dec(0, s) + " s"
	case s < 3600:
		return dec(1, s/60) + " min"
	case s < 72*3600:
		return dec(1, s/3600) + " h"
	}
	return dec(1, s/86400) + " d"
}

func (p *Portal) twinView(w http.ResponseWriter, r *http.Request) {
	pg := page{Title: "Digital twin", Nav: "twin", Live: true}
	d := twinData{Dir: p.opt.TwinDir}
	runs, err := twinRuns(p.opt.TwinDir)
	if err != nil {
		p.log.Error("portal: reading the twin's reports", "dir", p.opt.TwinDir, "err", err)
		pg.Error = "The twin's reports could not be read."
	}
	d.Runs = runs
	pg.Data = d
	p.render(w, r, http.StatusOK, "twin", pg)
}

func (p *Portal) twinReport(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	pg := page{Title: "Twin report " + name, Nav: "twin"}
	if !validTwinName(name) || p.opt.TwinDir == "" {
		pg.Error = "name: a report is a folder of the twin's directory, named without / or .."
		pg.Data = twinData{Dir: p.opt.TwinDir, One: &twinRun{Name: name}}
		p.render(w, r, http.StatusNotFound, "twin", pg)
		return
	}
	root, err := os.OpenRoot(p.opt.TwinDir)
	var run twinRun
	ok := false
	if err == nil {
		run, ok = readTwin(root, name)
		root.Close()
	}
	if !ok {
		pg.Error = "There is no report " + name + " (a folder with summary.json) in the twin's directory."
		pg.Data = twinData{Dir: p.opt.TwinDir, One: &twinRun{Name: name}}
		p.render(w, r, http.StatusNotFound, "twin", pg)
		return
	}
	pg.Data = twinData{Dir: p.opt.TwinDir, One: &run}
	p.render(w, r, http.StatusOK, "twin", pg)
}
