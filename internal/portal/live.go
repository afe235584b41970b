package portal

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sse writes server-sent events.
type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

// startSSE answers with an event stream. The server's write timeout does
// not apply to it (the stream lasts as long as the page is open).
func startSSE(w http.ResponseWriter) (*sse, bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return nil, false
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	return &sse{w: w, f: f}, true
}

// event sends one event; data may hold several lines.
func (s *sse) event(name, data string) {
	var b strings.Builder
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
	}
	b.WriteString("\n")
	_, _ = s.w.Write([]byte(b.String()))
	s.f.Flush()
}

func (s *sse) comment(c string) {
	_, _ = fmt.Fprintf(s.w, ": %s\n\n", c)
	s.f.Flush()
}

// LiveEvery is how often a live page is re-rendered to see whether what it
// shows has changed.
const LiveEvery = time.Second

// events keeps a live page current: every LiveEvery it renders the page's
// main part as the viewer would see it, and sends it when it differs from
// the last one. The page is rendered through the portal's own handler, so
// a live update shows exactly what a reload would.
func (p *Portal) events(w http.ResponseWriter, r *http.Request) {
	target := safeNext(r.URL.Query().Get("page"))
	u, err := url.Parse(target)
	if err != nil || strings.HasPrefix(u.Path, "/events") || strings.HasPrefix(u.Path, "/api/") {
		http.Error(w, "page: not a portal page", http.StatusBadRequest)
		return
	}
	q := u.Query()
	q.Set("fragment", "1")
	u.RawQuery = q.Encode()
	s, ok := startSSE(w)
	if !ok {
		return
	}
	last := r.URL.Query().Get("since") // the digest of what the page shows
	tick := time.NewTicker(LiveEvery)
	defer tick.Stop()
	for {
		body, status := p.renderFor(r, u.String())
		if status == http.StatusUnauthorized || status == http.StatusSeeOther {
			s.event("gone", "session ended")
			return
		}
		if status == http.StatusOK {
			if d := digest(body); d != last {
				s.event("page", string(body))
				last = d
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// renderFor renders target for the viewer of r (same cookies).
func (p *Portal) renderFor(r *http.Request, target string) ([]byte, int) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
	if err != nil {
		return nil, http.StatusBadRequest
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Accept")
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	var bw bufferWriter
	bw.header = http.Header{}
	p.root.ServeHTTP(&bw, req)
	if bw.status == 0 {
		bw.status = http.StatusOK
	}
	return bw.body.Bytes(), bw.status
}

type bufferWriter struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}
