package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// servedOpenAPI fetches the document the server serves, decoded and raw.
func (ts *testServer) servedOpenAPI(t *testing.T) (map[string]any, []byte) {
	t.Helper()
	resp, err := http.Get(ts.url + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", resp.StatusCode, raw)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the served document is not JSON: %v", err)
	}
	return doc, raw
}

// operations lists the document's operations as "METHOD path".
func operations(doc map[string]any) map[string]map[string]any {
	ops := map[string]map[string]any{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			ops[strings.ToUpper(method)+" "+path] = op.(map[string]any)
		}
	}
	return ops
}

// documented says whether the operation documents status code.
func documented(op map[string]any, code int) bool {
	_, ok := op["responses"].(map[string]any)[strconv.Itoa(code)]
	return ok
}

// concrete fills a path pattern's wildcards with a value.
func concrete(path string) string {
	return pathParam.ReplaceAllString(path, "1")
}

// TestOpenAPIMatchesTheMux checks the served document against the route
// table and the table against what the mux really serves: every route is
// documented with its method, every documented operation is a route, and
// every documented operation is served (401 without a token, not 404 or
// 405).
func TestOpenAPIMatchesTheMux(t *testing.T) {
	ts := newTestServer(t, nil)
	doc, _ := ts.servedOpenAPI(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	ops := operations(doc)
	registered := map[string]route{}
	for _, rt := range routes() {
		key := rt.method + " " + rt.path
		registered[key] = rt
		if ops[key] == nil {
			t.Errorf("%s is registered but not in the document", key)
		}
	}
	for key, op := range ops {
		rt, ok := registered[key]
		if !ok {
			t.Errorf("%s is documented but not registered", key)
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		req, _ := http.NewRequest(method, ts.url+concrete(path), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusUnauthorized
		if rt.public {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("%s %s without a token: %d, want %d", method, concrete(path), resp.StatusCode, want)
		}
		if !documented(op, resp.StatusCode) {
			t.Errorf("%s answered %d, which its operation does not document", key, resp.StatusCode)
		}
	}
}

// TestOpenAPIDescribesEachOperation checks what each operation says:
// security, a 4xx, problem documents for errors, creations as 201, bodies,
// and the query parameters the handlers read.
func TestOpenAPIDescribesEachOperation(t *testing.T) {
	doc := OpenAPI("test")
	if _, ok := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)[securityScheme]; !ok {
		t.Fatalf("no %s security scheme", securityScheme)
	}
	for key, op := range operations(doc) {
		rt := routeOf(t, key)
		sec, _ := op["security"].([]any)
		if rt.public && (sec == nil || len(sec) != 0) {
			t.Errorf("%s is public: want security [], got %v", key, op["security"])
		}
		if !rt.public && (len(sec) != 1 || sec[0].(map[string]any)[securityScheme] == nil) {
			t.Errorf("%s: want security [{%s: []}], got %v", key, securityScheme, op["security"])
		}
		fours := 0
		for code, resp := range op["responses"].(map[string]any) {
			n, _ := strconv.Atoi(code)
			if n >= 400 && n < 500 {
				fours++
				if _, ok := resp.(map[string]any)["content"].(map[string]any)["application/problem+json"]; !ok {
					t.Errorf("%s %s is not a problem document", key, code)
				}
			}
		}
		if fours == 0 {
			t.Errorf("%s documents no 4xx", key)
		}
		if !rt.public && (!documented(op, 401) || !documented(op, 429)) {
			t.Errorf("%s: a route with a token must document 401 and 429", key)
		}
		if rt.body != "" && (!documented(op, 400) || !documented(op, 422) || op["requestBody"] == nil) {
			t.Errorf("%s takes a body: want its requestBody, 400 and 422", key)
		}
	}

	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for _, rt := range routes() {
		for _, name := range append([]string{rt.body}, strings.Split(rt.answer, "|")...) {
			if name != "" && schemas[name] == nil {
				t.Errorf("%s %s refers to unknown schema %q", rt.method, rt.path, name)
			}
		}
	}
	if _, ok := schemaOf(reflectTypeOfJobSpec(), 0)["properties"].(map[string]any)["accelerators"]; !ok {
		t.Errorf("JobSpec schema lacks accelerators: %v", schemas["JobSpec"])
	}

	creations := []string{"POST /api/v1/orgs", "POST /api/v1/projects", "POST /api/v1/users", "POST /api/v1/jobs", "POST /api/v1/jobs:batch", "POST /api/v1/tokens"}
	for _, key := range creations {
		if op := operations(doc)[key]; op == nil || !documented(op, 201) {
			t.Errorf("%s creates: want 201 documented", key)
		}
	}

	params := map[string][]string{
		"GET /api/v1/jobs":                 {"state", "project", "user", "org", "site", "limit", "cursor"},
		"GET /api/v1/jobs/{id}/logs":       {"id", "stream", "offset", "follow"},
		"GET /api/v1/audit":                {"after", "limit", "verify"},
		"GET /api/v1/tokens":               {"user"},
		"GET /api/v1/projects":             {"org"},
		"POST /api/v1/jobs":                {"Idempotency-Key"},
		"POST /api/v1/sites/{id}/{action}": {"id", "action"},
	}
	for key, want := range params {
		var got []string
		for _, p := range operations(doc)[key]["parameters"].([]any) {
			got = append(got, p.(map[string]any)["name"].(string))
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: parameter %s not documented (have %v)", key, w, got)
			}
		}
	}
}

func routeOf(t *testing.T, key string) route {
	t.Helper()
	for _, rt := range routes() {
		if rt.method+" "+rt.path == key {
			return rt
		}
	}
	t.Fatalf("no route %s", key)
	return route{}
}

// TestWrongMethodIs405 asks every known path with a method it does not
// serve: a 405 problem with the path's methods in Allow.
func TestWrongMethodIs405(t *testing.T) {
	ts := newTestServer(t, nil)
	methods := map[string][]string{}
	for _, rt := range routes() {
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	for path, ms := range methods {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(ms, m) {
				continue
			}
			t.Run(m+" "+path, func(t *testing.T) {
				req, _ := http.NewRequest(m, ts.url+concrete(path), nil)
				req.Header.Set("Authorization", "Bearer "+ts.admin)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var p Problem
				_ = json.NewDecoder(resp.Body).Decode(&p)
				if resp.StatusCode != http.StatusMethodNotAllowed || p.Status != 405 || p.Title == "" {
					t.Fatalf("status %d, problem %+v; want a 405 problem", resp.StatusCode, p)
				}
				allow := strings.Split(resp.Header.Get("Allow"), ", ")
				for _, want := range ms {
					if !slices.Contains(allow, want) {
						t.Errorf("Allow %q lacks %s", resp.Header.Get("Allow"), want)
					}
				}
				if slices.Contains(allow, m) {
					t.Errorf("Allow %q offers the refused %s", resp.Header.Get("Allow"), m)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
			})
		}
	}
	// An unknown path stays 404, whatever the method.
	var p Problem
	if got := ts.do(t, ts.admin, "PUT", "/api/v1/nothing", nil, &p); got != 404 {
		t.Errorf("PUT /api/v1/nothing: %d %+v, want 404", got, p)
	}
}

// TestMalformedIs400InvalidIs422 tells a body that is not JSON (400) from
// one whose fields are wrong (422, naming the field), on every kind of
// body, and checks the operation documents what was answered.
func TestMalformedIs400InvalidIs422(t *testing.T) {
	ts := newTestServer(t, nil)
	ops := operations(OpenAPI("test"))
	tests := map[string]struct {
		path, body string
		status     int
		field      string // for 422
	}{
		"job not JSON":          {"/api/v1/jobs", `{"command": ["true"`, 400, ""},
		"job empty":             {"/api/v1/jobs", ``, 400, ""},
		"job data after it":     {"/api/v1/jobs", `{"command":["true"]} {}`, 400, ""},
		"job not an object":     {"/api/v1/jobs", `[{"command":["true"]}]`, 400, ""},
		"job wrong type":        {"/api/v1/jobs", `{"command":["true"],"accelerators":"many"}`, 422, "accelerators"},
		"job unknown field":     {"/api/v1/jobs", `{"command":["true"],"acelerators":1}`, 422, "acelerators"},
		"batch not JSON":        {"/api/v1/jobs:batch", `{"jobs": [`, 400, ""},
		"batch empty":           {"/api/v1/jobs:batch", `{"jobs": []}`, 422, "jobs"},
		"batch element invalid": {"/api/v1/jobs:batch", `{"jobs":[{"command":["true"],"nodes":-2}]}`, 422, "jobs[0].nodes"},
		"org not JSON":          {"/api/v1/orgs", `{"name": "x",`, 400, ""},
		"org not an object":     {"/api/v1/orgs", `["x"]`, 400, ""},
		"org wrong kind":        {"/api/v1/orgs", `{"name":"x","kind":"pirate","country":"DE"}`, 422, "kind"},
		"project wrong type":    {"/api/v1/projects", `{"name":"p","org":7}`, 422, "org"},
		"user not JSON":         {"/api/v1/users", `name=x`, 400, ""},
		"user unknown field":    {"/api/v1/users", `{"name":"x","colour":"red"}`, 422, "colour"},
		"token not JSON":        {"/api/v1/tokens", `label`, 400, ""},
		"token wrong type":      {"/api/v1/tokens", `{"label": 5}`, 422, "label"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var p Problem
			got := ts.do(t, ts.admin, "POST", tc.path, tc.body, &p)
			if got != tc.status || p.Status != tc.status {
				t.Fatalf("status %d (problem %+v), want %d", got, p, tc.status)
			}
			if tc.status == 422 && !slices.ContainsFunc(p.Errors, func(e FieldError) bool { return e.Field == tc.field }) {
				t.Errorf("problem %+v does not name %q", p, tc.field)
			}
			if tc.status == 400 && (p.Type != "https://gigafactory.eu/problems/bad-request" || p.Detail == "") {
				t.Errorf("not a bad-request problem with a detail: %+v", p)
			}
			if !documented(ops["POST "+tc.path], got) {
				t.Errorf("POST %s answered %d, which it does not document", tc.path, got)
			}
		})
	}
}

// TestUnauthenticatedSaysBearer checks 401 answers carry WWW-Authenticate.
func TestUnauthenticatedSaysBearer(t *testing.T) {
	ts := newTestServer(t, nil)
	tests := map[string]string{"no token": "", "unknown token": "gf_not-a-token"}
	for name, token := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.url+"/api/v1/jobs", nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
				t.Errorf("WWW-Authenticate %q, want Bearer ...", h)
			}
		})
	}
}

// TestOpenAPIValidates validates the served document with a real OpenAPI
// 3.1 validator, @seriousme/openapi-schema-validator, run by Node from
// testdata/openapi-check (its package-lock.json pins it). Without node and
// npm it skips, but under CI=true it fails. A broken copy of the document
// must be refused, so the check is known to be able to fail.
func TestOpenAPIValidates(t *testing.T) {
	node, npm := lookTool(t, "node"), lookTool(t, "npm")
	dir, err := filepath.Abs(filepath.Join("testdata", "openapi-check"))
	if err != nil {
		t.Fatal(err)
	}
	if installedValidator(t, dir) != pinnedValidator(t, dir) {
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			prerequisite(t, "npm ci in testdata/openapi-check: %v\n%s", err, out)
		}
	}
	ts := newTestServer(t, nil)
	doc, raw := ts.servedOpenAPI(t)
	check := func(t *testing.T, raw []byte) (string, error) {
		file := filepath.Join(t.TempDir(), "openapi.json")
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(node, "check.mjs", file)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Run("served", func(t *testing.T) {
		out, err := check(t, raw)
		if err != nil {
			t.Fatalf("the validator refuses the served document: %v\n%s", err, out)
		}
		if !strings.Contains(out, "valid OpenAPI 3.1") {
			t.Errorf("validator said %q", out)
		}
		t.Logf("validator: %s", strings.TrimSpace(out))
	})
	t.Run("broken copy refused", func(t *testing.T) {
		// A response without its required description.
		ops := operations(doc)
		delete(ops["GET /api/v1/jobs"]["responses"].(map[string]any)["200"].(map[string]any), "description")
		broken, _ := json.Marshal(doc)
		if out, err := check(t, broken); err == nil {
			t.Errorf("the validator accepts a response without description: %s", out)
		}
	})
}

// pinnedValidator is the validator's version package.json asks for.
func pinnedValidator(t *testing.T, dir string) string {
	t.Helper()
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err == nil {
		err = json.Unmarshal(raw, &pkg)
	}
	if err != nil || pkg.Dependencies[validatorPackage] == "" {
		t.Fatalf("testdata/openapi-check/package.json does not pin %s: %v", validatorPackage, err)
	}
	return pkg.Dependencies[validatorPackage]
}

// installedValidator is the version in node_modules, "" if none: npm ci
// runs when it differs from the pinned one.
func installedValidator(t *testing.T, dir string) string {
	t.Helper()
	var pkg struct {
		Version string `json:"version"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "node_modules", validatorPackage, "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err == nil {
		err = json.Unmarshal(raw, &pkg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return pkg.Version
}

const validatorPackage = "@seriousme/openapi-schema-validator"

// lookTool finds a program on PATH; a missing one skips the test, or
// fails it under CI=true.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		prerequisite(t, "%s not found (scripts/test.d/30-node.sh installs Debian's nodejs and npm)", name)
	}
	return p
}

// prerequisite reports a missing prerequisite: a failure under CI=true, a
// skip otherwise.
func prerequisite(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
