package client

import (
	"context"
	"time"
)

// Controller is one gf serve sharing the network's store, as GET
// /api/v1/controllers answers it.
type Controller struct {
	ID        string    `json:"id"`
	Address   string    `json:"address"`
	Leader    bool      `json:"leader"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
}

// Controllers lists the controllers sharing the store and which one leads
// (operators and global administrators).
func (c *Client) Controllers(ctx context.Context) ([]Controller, error) {
	return listAll[Controller](ctx, c, "/controllers", nil)
}
