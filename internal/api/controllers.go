package api

import (
	"net/http"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// controllerInfo is one controller sharing the store, as GET
// /api/v1/controllers answers it.
type controllerInfo struct {
	ID        string    `json:"id"`
	Address   string    `json:"address"`
	Leader    bool      `json:"leader"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
}

// listControllers answers the controllers that share this store (several
// gf serve on one PostgreSQL) and which of them leads. Operators and
// global administrators only: addresses are the network's plumbing, not a
// tenant's business.
func (s *Server) listControllers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	if !isAdmin(u) && u.Role != core.RoleOperator {
		return forbidden("user %s may not list controllers: operators and global administrators only", u.Name)
	}
	cs, err := s.st.Controllers(ctx)
	if err != nil {
		return err
	}
	out := make([]controllerInfo, 0, len(cs))
	for _, c := range cs {
		out = append(out, controllerInfo{ID: c.ID, Address: c.Address, Leader: c.Leader, StartedAt: c.StartedAt, LastSeen: c.LastSeen})
	}
	return writeJSON(w, http.StatusOK, list[controllerInfo]{Items: out})
}
