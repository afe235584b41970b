package client

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Problem is an RFC 9457 problem document returned by the API. Every
// non-2xx answer is turned into a *Problem, so callers can inspect the HTTP
// status and the offending fields with errors.As.
type Problem struct {
	Type     string       `json:"type,omitempty"`
	Title    string       `json:"title,omitempty"`
	Status   int          `json:"status,omitempty"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// FieldError names one offending field of a request and what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error formats the detail (or the title when there is none) and then each
// field error the detail does not already state, one per indented line.
func (p *Problem) Error() string {
	var b strings.Builder
	switch {
	case p.Detail != "":
		b.WriteString(p.Detail)
	case p.Title != "":
		b.WriteString(p.Title)
	default:
		b.WriteString(http.StatusText(p.Status))
	}
	if p.Status != 0 && p.Detail == "" {
		fmt.Fprintf(&b, " (HTTP %d)", p.Status)
	}
	for _, fe := range p.Errors {
		line := fe.Field + ": " + fe.Detail
		if fe.Field == "" {
			line = fe.Detail
		}
		if strings.Contains(p.Detail, line) {
			continue // the detail already says it
		}
		b.WriteString("\n  " + line)
	}
	return b.String()
}

// Field returns the error for the named field, or nil.
func (p *Problem) Field(name string) *FieldError {
	for i := range p.Errors {
		if p.Errors[i].Field == name {
			return &p.Errors[i]
		}
	}
	return nil
}

// maxProblemBody bounds how much of an error answer is read.
const maxProblemBody = 1 << 20

// problemFrom reads a non-2xx answer. A problem document (or any JSON body
// with a detail) is decoded; anything else becomes a Problem carrying the
// status and the start of the body as its detail, so a proxy's HTML error
// page still gives a readable message.
func problemFrom(resp *http.Response) *Problem {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBody))
	p := &Problem{}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		if err := json.Unmarshal(body, p); err != nil {
			p = &Problem{}
		}
	}
	if p.Status == 0 {
		p.Status = resp.StatusCode
	}
	if p.Title == "" {
		p.Title = http.StatusText(resp.StatusCode)
	}
	if p.Detail == "" && len(p.Errors) == 0 {
		text := strings.TrimSpace(string(body))
		if len(text) > 300 {
			text = text[:300] + "..."
		}
		if text != "" && mt != "application/problem+json" {
			p.Detail = fmt.Sprintf("%s (HTTP %d): %s", p.Title, resp.StatusCode, text)
		}
	}
	return p
}
