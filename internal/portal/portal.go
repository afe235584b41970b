// Package portal is Gigafactory's web portal: server-rendered pages over
// the REST API, served by gf serve at / and embedded in the binary.
//
// Every page is rendered from what the API answers the viewer's own token
// (through an in-process transport, inproc.go), so a page shows and does
// only what the viewer's role allows: the API's authorisation is the only
// one. Live views follow the server through server-sent events; there is
// no script from anywhere but /static, and the Content-Security-Policy says
// so.
package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/client"
	"github.com/gigafactory/gigafactory/internal/core"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSP is the Content-Security-Policy of every answer: nothing from another
// origin, no inline script or style, no frames, forms only to the portal.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Options configure the portal.
type Options struct {
	// Version is gf's, shown in the footer.
	Version string
	// Log receives the portal's errors; nil: slog.Default.
	Log *slog.Logger
	// TwinDir is where gf simulate's reports are looked for (each a
	// folder with summary.json); "" hides the twin's reports.
	TwinDir string
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// OIDC turns on the browser's federated login (authorization code
	// with PKCE, oidc.go) with the same issuer and client id as the
	// API's; nil: only API tokens log in.
	OIDC *OIDCLogin
}

// OIDCLogin is the identity provider the portal's login sends browsers to.
type OIDCLogin struct {
	Issuer   string // the provider's issuer URL
	ClientID string // the client id registered for the portal (the API's audience)
	// ClientSecret is the client's secret for a confidential client;
	// "" for a public one (PKCE alone).
	ClientSecret string
	// HTTPClient reaches the provider; nil: one with a 10 s timeout.
	HTTPClient *http.Client
}

// Portal serves the web pages.
type Portal struct {
	api   http.Handler
	opt   Options
	log   *slog.Logger
	pages map[string]*template.Template
	root  http.Handler // Handler's mux, for live updates' renders
}

// New returns the portal over the API handler api (the one gf serve serves
// at /api/v1).
func New(api http.Handler, opt Options) (*Portal, error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	p := &Portal{api: api, opt: opt, log: opt.Log, pages: map[string]*template.Template{}}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("portal: template %s: %w", n, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

// Handler serves the portal's pages and hands everything else (the API,
// /metrics, /healthz, /readyz) to the API handler.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /login", p.loginPage)
	mux.HandleFunc("POST /login", p.login)
	mux.HandleFunc("POST /logout", p.withSession(p.logout))
	p.oidcRoutes(mux)
	p.views(mux)
	mux.Handle("/api/", p.api)
	mux.Handle("/healthz", p.api)
	mux.Handle("/readyz", p.api)
	mux.Handle("/metrics", p.api)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" || r.Method != http.MethodGet && r.Method != http.MethodHead {
			p.api.ServeHTTP(w, r)
			return
		}
		p.notFound(w, r)
	})
	p.root = mux
	return headers(mux)
}

// headers sets the security headers of every answer but the API's own
// JSON (which sets its own): the CSP, no framing, no sniffing, no
// referrer to other sites.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			h := w.Header()
			h.Set("Content-Security-Policy", CSP)
			h.Set("X-Frame-Options", "DENY")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "same-origin") // no-referrer would make forms send "Origin: null"
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		}
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title   string
	Nav     string // the view's name, to mark the current link
	Me      *core.Whoami
	CSRF    string
	Flash   string // a message after an action
	Error   string // what went wrong, from the API's problem document
	Live    bool   // the page follows the server (server-sent events)
	Version string
	Data    any
	// Body is the page's main part, rendered first so that its digest
	// (Digest) tells a live page's event stream what the page holds.
	Body   template.HTML
	Digest string
}

// Role tests for the layout's navigation.
func (pg page) IsAdmin() bool { return pg.Me != nil && pg.Me.Role == core.RoleAdmin }

// Has reports whether the viewer holds the global role r (admins hold all).
func (pg page) Has(r string) bool {
	return pg.Me != nil && (pg.Me.Role == r || pg.Me.Role == core.RoleAdmin)
}

// render writes the page tmpl; a request with ?fragment=1 (the live
// updates') gets only its main part.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, tmpl string, pg page) {
	t, ok := p.pages[tmpl]
	if !ok {
		http.Error(w, "no template "+tmpl, http.StatusInternalServerError)
		return
	}
	pg.Version = p.opt.Version
	if s := sessionFrom(r); s != nil {
		pg.Me, pg.CSRF = s.me, s.csrf
	}
	if pg.Flash == "" {
		pg.Flash = r.URL.Query().Get("done")
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "content", pg); err != nil {
		p.log.Error("portal: rendering", "template", tmpl, "err", err)
		http.Error(w, "rendering "+tmpl+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	if r.URL.Query().Get("fragment") != "1" {
		pg.Body, pg.Digest = template.HTML(buf.String()), digest(buf.Bytes())
		buf.Reset()
		if err := t.ExecuteTemplate(&buf, "layout.html", pg); err != nil {
			p.log.Error("portal: rendering", "template", tmpl, "err", err)
			http.Error(w, "rendering "+tmpl+": "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders the API's error on the page it happened on.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, tmpl string, pg page, err error) {
	status := http.StatusBadGateway
	var pe *client.Problem
	if errors.As(err, &pe) {
		status = pe.Status
		pg.Error = pe.Error()
	} else {
		pg.Error = err.Error()
	}
	if status == http.StatusUnauthorized {
		clearSession(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	p.render(w, r, status, tmpl, pg)
}

// digest names a rendered main part, for live pages to compare.
func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:12])
}

func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusNotFound, "error", page{Title: "Not found", Error: "There is no page at " + r.URL.Path + "."})
}
