package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/gigafactory/gigafactory/internal/daemon"
)

// forwardedHeader marks a request a follower forwarded to the leader; a
// request that has it is never forwarded again (two controllers that both
// believe the other leads, for the seconds of a failover, answer 503
// rather than pass it back and forth).
const forwardedHeader = "X-Gigafactory-Forwarded"

// forwardToLeader answers r, a read only the leader's scheduler can
// answer (a job's explanation), by passing it, with the caller's own
// credentials, to the leading controller at the address the store's
// controllers table gives. It returns daemon.ErrNotLeader (503) when no
// controller leads, when r was forwarded already, or when the leader's
// address is this one's.
func (s *Server) forwardToLeader(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get(forwardedHeader) != "" {
		return daemon.ErrNotLeader
	}
	target, err := s.leaderURL(r.Context())
	if err != nil {
		return err
	}
	var failed error
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.Out.Header.Set(forwardedHeader, "1")
		},
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) { failed = daemon.ErrNotLeader },
	}
	proxy.ServeHTTP(w, r)
	return failed
}

// leaderURL is the leading controller's address, from the store.
func (s *Server) leaderURL(ctx context.Context) (*url.URL, error) {
	cs, err := s.d.Store().Controllers(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if !c.Leader || c.Address == "" {
			continue
		}
		u, err := url.Parse(c.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.Join(daemon.ErrNotLeader, err)
		}
		return u, nil
	}
	return nil, daemon.ErrNotLeader
}
