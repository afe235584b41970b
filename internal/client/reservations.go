package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gigafactory/gigafactory/internal/core"
)

// Advance reservations (issue 17).

// NewReservation is the body that books a reservation.
type NewReservation = core.NewReservation

// Reserve books a reservation (the site's operators, allocators, global
// administrators).
func (c *Client) Reserve(ctx context.Context, r NewReservation) (*core.Reservation, error) {
	return post[core.Reservation](ctx, c, "/reservations", r)
}

// Reservations lists the reservations the caller may see, of site when
// it is not empty, with their state.
func (c *Client) Reservations(ctx context.Context, site string) ([]core.Reservation, error) {
	q := url.Values{}
	if site != "" {
		q.Set("site", site)
	}
	var l struct {
		Items []core.Reservation `json:"items"`
	}
	// The query goes in request.query: a "?" in the path would be escaped.
	if err := c.do(ctx, request{method: http.MethodGet, path: "/reservations", query: q, idempotent: true}, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Reservation gets one reservation.
func (c *Client) Reservation(ctx context.Context, id string) (*core.Reservation, error) {
	return get[core.Reservation](ctx, c, "/reservations/"+url.PathEscape(id))
}

// DeleteReservation deletes a reservation and returns it as it was.
func (c *Client) DeleteReservation(ctx context.Context, id string) (*core.Reservation, error) {
	var out core.Reservation
	if err := c.do(ctx, request{method: http.MethodDelete, path: "/reservations/" + url.PathEscape(id)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
