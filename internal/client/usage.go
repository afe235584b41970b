package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gigafactory/gigafactory/internal/core"
)

// ProjectUsage returns a project's current award and its jobs' use by
// site and model (GET /api/v1/projects/{name}/usage).
func (c *Client) ProjectUsage(ctx context.Context, project string) (*core.ProjectUsage, error) {
	var out core.ProjectUsage
	if err := c.do(ctx, request{method: http.MethodGet, path: "/projects/" + url.PathEscape(project) + "/usage"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
