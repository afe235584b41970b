package api

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/access"
	"github.com/gigafactory/gigafactory/internal/aiact"
	"github.com/gigafactory/gigafactory/internal/core"
	"github.com/gigafactory/gigafactory/internal/spec"
	"github.com/gigafactory/gigafactory/internal/store"
)

// schemaTypes names the Go types behind the schemas the routes refer to.
var schemaTypes = map[string]any{
	"Job":               core.Job{},
	"ProjectUsage":      core.ProjectUsage{},
	"JobSpec":           core.JobSpec{},
	"JobBatch":          batchRequest{},
	"JobIDs":            cancelBatchRequest{},
	"JobList":           list[core.Job]{},
	"Event":             core.Event{},
	"EventList":         list[core.Event]{},
	"Site":              core.Site{},
	"SiteList":          list[core.Site]{},
	"ControllerList":    list[controllerInfo]{},
	"NewReservation":    reservationRequest{},
	"Reservation":       core.Reservation{},
	"ReservationList":   list[core.Reservation]{},
	"Org":               core.Org{},
	"OrgList":           list[core.Org]{},
	"Project":           core.Project{},
	"ProjectList":       list[core.Project]{},
	"User":              core.User{},
	"UserList":          list[core.User]{},
	"UserWithToken":     userWithToken{},
	"Explanation":       explainAnswer{},
	"AuditList":         list[store.AuditEntry]{},
	"Token":             store.Token{},
	"TokenList":         list[tokenInfo]{},
	"NewToken":          newToken{},
	"TokenWithSecret":   tokenWithSecret{},
	"Whoami":            core.Whoami{},
	"OIDCInfo":          oidcInfo{},
	"Call":              core.Call{},
	"CallList":          list[core.Call]{},
	"RankingList":       list[access.Ranked]{},
	"NewProposal":       core.NewProposal{},
	"Proposal":          core.Proposal{},
	"ProposalList":      list[core.Proposal]{},
	"Decision":          decision{},
	"Assignment":        assignment{},
	"Review":            core.Review{},
	"ReviewList":        list[core.Review]{},
	"ReviewScores":      core.ReviewScores{},
	"NewAward":          awardRequest{},
	"Award":             core.Award{},
	"AwardList":         list[core.Award]{},
	"Conflict":          core.Conflict{},
	"ConflictList":      list[core.Conflict]{},
	"Member":            core.Membership{},
	"MemberList":        list[core.Membership]{},
	"Problem":           Problem{},
	"AuditVerification": auditVerification{},
	"AuditKey":          auditKeyAnswer{},
	"UsageReport":       usageReport{},
	"MeterList":         list[core.Meter]{},
	"AIActModel":        aiact.Model{},
	"AIActModelList":    list[aiact.Model]{},
	"AIActReport":       aiact.Report{},
	"AIActNoticeList":   list[aiact.Notification]{},
}

// auditVerification is the answer of GET /api/v1/audit?verify=true:
// verified and checked as before, error naming the first bad seq, and the
// whole report (store.AuditReport).
type auditVerification struct {
	Verified bool              `json:"verified"`
	Checked  int64             `json:"checked"`
	Error    string            `json:"error,omitempty"`
	Report   store.AuditReport `json:"report"`
}

// auditKeyAnswer is the answer of GET /api/v1/audit/key.
type auditKeyAnswer struct {
	PublicKey string `json:"public_key"` // 64 hex digits (Ed25519)
	KeyID     string `json:"key_id"`
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// securityScheme names the bearer-token scheme of the document.
const securityScheme = "bearerAuth"

// OpenAPI returns the OpenAPI 3.1 document of the API, built from the route
// table and the Go types themselves.
func OpenAPI(version string) map[string]any {
	paths := map[string]any{}
	for _, rt := range routes() {
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = operation(rt)
	}
	schemas := map[string]any{}
	for name, v := range schemaTypes {
		schemas[name] = schemaOf(reflect.TypeOf(v), 0)
	}
	schemas["OpenAPI"] = map[string]any{"type": "object", "description": "an OpenAPI 3.1 document"}
	schemas["AuditAnswer"] = map[string]any{"anyOf": []any{ref("AuditList"), ref("AuditVerification")}}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Gigafactory control plane",
			"version":     version,
			"description": "One front door to a network of AI compute centres. Errors are RFC 9457 problem documents; a known path asked with another method is answered 405 with Allow. " + limitsText(),
		},
		"servers":  []any{map[string]any{"url": "/"}},
		"paths":    paths,
		"security": []any{map[string]any{securityScheme: []any{}}},
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{securityScheme: map[string]any{"type": "http", "scheme": "bearer", "description": "an API token (gf_...)"}},
		},
	}
}

// operation is the OpenAPI operation of rt.
func operation(rt route) map[string]any {
	op := map[string]any{
		"summary":     rt.summary,
		"operationId": strings.ToLower(rt.method) + strings.NewReplacer("/", "_", "{", "", "}", "", ":", "_", ".", "_").Replace(rt.path),
		"security":    []any{map[string]any{securityScheme: []any{}}},
	}
	if rt.public {
		op["security"] = []any{}
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	for _, p := range rt.params {
		params = append(params, map[string]any{"name": p.name, "in": p.in, "description": p.doc, "required": false, "schema": p.schema})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if rt.body != "" {
		op["requestBody"] = map[string]any{"required": !rt.optionalBody, "content": map[string]any{"application/json": map[string]any{"schema": ref(rt.body)}}}
	}
	responses := map[string]any{}
	for _, code := range rt.successes() {
		resp := map[string]any{"description": http.StatusText(code)}
		switch {
		case rt.text:
			resp["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		case strings.Contains(rt.answer, "|"):
			// One of several answers ("Job|JobList": a job, or an array's tasks).
			var one []any
			for _, a := range strings.Split(rt.answer, "|") {
				one = append(one, ref(a))
			}
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"oneOf": one}}}
		case rt.answer != "":
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.answer)}}
		}
		if code == http.StatusCreated && rt.path == "/api/v1/jobs" {
			resp["headers"] = map[string]any{"Location": map[string]any{"description": "the job's URL", "schema": map[string]any{"type": "string"}}}
		}
		responses[strconv.Itoa(code)] = resp
	}
	for _, code := range rt.failures() {
		resp := problemResponse(http.StatusText(code))
		switch code {
		case http.StatusUnauthorized:
			resp["headers"] = map[string]any{"WWW-Authenticate": map[string]any{"description": "Bearer", "schema": map[string]any{"type": "string"}}}
		case http.StatusTooManyRequests:
			resp["headers"] = map[string]any{"Retry-After": map[string]any{"description": "seconds until the token may ask again", "schema": map[string]any{"type": "integer"}}}
		}
		responses[strconv.Itoa(code)] = resp
	}
	responses["default"] = problemResponse("any other error (5xx)")
	op["responses"] = responses
	return op
}

func problemResponse(desc string) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}}}
}

// successes are rt's success statuses.
func (rt route) successes() []int {
	if len(rt.ok) == 0 {
		return []int{http.StatusOK}
	}
	return rt.ok
}

// failures are every 4xx rt may answer, sorted: its handler's own and
// those of serve and decodeStrict.
func (rt route) failures() []int {
	codes := slices.Clone(rt.fails)
	codes = append(codes, http.StatusRequestEntityTooLarge)
	if !rt.public {
		codes = append(codes, http.StatusUnauthorized, http.StatusTooManyRequests)
	}
	if rt.body != "" {
		codes = append(codes, http.StatusBadRequest, http.StatusUnprocessableEntity)
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

var (
	timeType     = reflect.TypeOf(time.Time{})
	milliType    = reflect.TypeOf(core.Milli(0))
	durationType = reflect.TypeOf(core.Duration(0))
)

// schemaOf derives a JSON Schema from a Go type and its json tags.
func schemaOf(t reflect.Type, depth int) map[string]any {
	if depth > 6 {
		return map[string]any{}
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case milliType:
		return map[string]any{"type": "number", "minimum": 0, "description": "accelerators; thousandths allowed"}
	case durationType:
		return map[string]any{"type": []any{"string", "number"}, "description": "a duration such as \"1h30m\" or a number of seconds"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), depth)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string"}
		}
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), depth+1)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), depth+1)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				// encoding/json flattens an embedded struct's fields.
				for k, v := range schemaOf(f.Type, depth)["properties"].(map[string]any) {
					props[k] = v
				}
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = schemaOf(f.Type, depth+1)
		}
		return map[string]any{"type": "object", "properties": props}
	}
	return map[string]any{}
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, OpenAPI(s.version))
}

// limitsText states the front door's limits for the OpenAPI description
// (docs/API.md lists the same).
func limitsText() string {
	return fmt.Sprintf("Limits: request bodies at most %d bytes (a job spec %d, a batch %d with at most %d jobs); "+
		"command at most %d entries of %d bytes; env at most %d variables, names [A-Za-z_][A-Za-z0-9_]*, values at most %d bytes; "+
		"script at most %d bytes; no control characters but tab and newline in commands, scripts and env values, none in names; "+
		"pages of ?limit= 1 to %d (default %d), a page of jobs ends early past %d bytes (next_cursor continues); "+
		"each token %d requests per second, bursts of %d (429 with Retry-After). Answers 413 name the limit passed, 422 the field.",
		MaxBody, MaxJobBody, MaxBatchBody, MaxBatch,
		spec.MaxCommandArgs, spec.MaxArgBytes, spec.MaxEnvEntries, spec.MaxEnvValueBytes,
		spec.MaxScriptBytes, MaxPage, DefaultPage, MaxPageBytes, DefaultRate, DefaultBurst)
}
