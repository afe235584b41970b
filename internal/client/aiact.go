package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gigafactory/gigafactory/internal/aiact"
)

// AIActModels lists the AI Act ledger's models the caller may see.
func (c *Client) AIActModels(ctx context.Context) ([]aiact.Model, error) {
	return listAll[aiact.Model](ctx, c, "/ai-act/models", url.Values{})
}

// AIActReport returns a model's AI Act report (the JSON form; its
// Markdown method writes the Markdown the API serves).
func (c *Client) AIActReport(ctx context.Context, model string) (*aiact.Report, error) {
	var out aiact.Report
	q := url.Values{"format": {"json"}}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/ai-act/models/" + url.PathEscape(model) + "/report", query: q, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AIActNotifications lists the AI Act notifications the caller may see.
func (c *Client) AIActNotifications(ctx context.Context) ([]aiact.Notification, error) {
	return listAll[aiact.Notification](ctx, c, "/ai-act/notifications", url.Values{})
}
