package portal

import (
	"net/http"
	"strings"

	"github.com/gigafactory/gigafactory/internal/client"
)

// The audit view (global admins; the API refuses everyone else and the
// page shows its refusal): the log's verification, shown first, and its
// latest entries, filtered by actor and action.

// auditShown is how many of the latest entries the view lists.
const auditShown = 200

type auditData struct {
	Actor, Action string
	Verify        *client.AuditVerification
	VerifyError   string
	Entries       []client.AuditEntry // newest first
	Matched       int                 // entries matching the filter
}

func (p *Portal) auditView(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r)
	pg := page{Title: "Audit", Nav: "audit", Live: true}
	q := r.URL.Query()
	d := auditData{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action"))}
	pg.Data = d
	// The log is read before its check: a refusal (403) is the API's.
	// client.AuditLog pages from the oldest entry; the view keeps the
	// last auditShown.
	entries, err := s.c.AuditLog(r.Context(), client.AuditQuery{Actor: d.Actor, Action: d.Action})
	if err != nil {
		p.fail(w, r, "audit", pg, err)
		return
	}
	d.Matched = len(entries)
	if len(entries) > auditShown {
		entries = entries[len(entries)-auditShown:]
	}
	for i := len(entries) - 1; i >= 0; i-- {
		d.Entries = append(d.Entries, entries[i])
	}
	if v, err := s.c.VerifyAudit(r.Context()); err != nil {
		d.VerifyError = err.Error()
	} else {
		d.Verify = v
	}
	pg.Data = d
	p.render(w, r, http.StatusOK, "audit", pg)
}
