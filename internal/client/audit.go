package client

import (
	"context"
	"github.com/gigafactory/gigafactory/internal/core"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AuditEntry is one record of the server's audit log.
type AuditEntry struct {
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Object   string    `json:"object"`
	Detail   string    `json:"detail,omitempty"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// AuditQuery filters AuditLog; empty fields match all. Object ending in
// "/" and Action ending in "." match every value they prefix.
type AuditQuery struct {
	Actor, Object, Action string
	Since, Until          time.Time
	// Max stops after this many entries (0: all).
	Max int
}

// AuditLog returns the audit entries matching q, in order (global admins).
func (c *Client) AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	v := url.Values{}
	for k, s := range map[string]string{"actor": q.Actor, "object": q.Object, "action": q.Action} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339))
	}
	const page = 1000
	v.Set("limit", strconv.Itoa(page))
	var all []AuditEntry
	for {
		var p Page[AuditEntry]
		if err := c.do(ctx, request{method: http.MethodGet, path: "/audit", query: v, idempotent: true}, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if q.Max > 0 && len(all) >= q.Max {
			return all[:q.Max], nil
		}
		if len(p.Items) == 0 {
			return all, nil
		}
		v.Set("after", strconv.FormatInt(p.Items[len(p.Items)-1].Seq, 10))
	}
}

// AuditProblem is one finding of the audit log's check.
type AuditProblem = core.AuditProblem

// AuditReport is the audit log's check in full.
type AuditReport = core.AuditReport

// AuditVerification is the server's check of its audit log.
type AuditVerification struct {
	Verified bool        `json:"verified"`
	Checked  int64       `json:"checked"`
	Error    string      `json:"error,omitempty"`
	Report   AuditReport `json:"report"`
}

// VerifyAudit asks the server to check its audit log: the hash chain and
// the signed checkpoints (global admins).
func (c *Client) VerifyAudit(ctx context.Context) (*AuditVerification, error) {
	var out AuditVerification
	if err := c.do(ctx, request{method: http.MethodGet, path: "/audit", query: url.Values{"verify": {"true"}}, idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AuditKey is the public key that signs the audit log's checkpoints.
type AuditKey struct {
	PublicKey string `json:"public_key"`
	KeyID     string `json:"key_id"`
}

// AuditKey returns the public key the server signs checkpoints with.
func (c *Client) AuditKey(ctx context.Context) (*AuditKey, error) {
	var out AuditKey
	if err := c.do(ctx, request{method: http.MethodGet, path: "/audit/key", idempotent: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
