package securitytest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestOversizeInputs sends what once took the server from 100 MB to 770 MB:
// a 4 MB spec whose command has a million entries, a 28 MB batch, a 1.5 MB
// free-text field with NUL and ESC, and checks each is refused with a
// status that says why, that the server's peak memory stays bounded, and
// that listing the organisation's jobs stays small afterwards.
func TestOversizeInputs(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	ten := s.addTenants()
	base := s.peakRSS()

	var cmd bytes.Buffer
	cmd.WriteString(`{"project":"rocket","command":["echo"`)
	for cmd.Len() < 4<<20 {
		cmd.WriteString(`,"x"`)
	}
	cmd.WriteString(`]}`)
	var batch bytes.Buffer
	batch.WriteString(`{"jobs":[`)
	arg := strings.Repeat("y", 2000)
	for i := 0; batch.Len() < 28<<20+600<<10; i++ {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"project":"rocket","command":["echo","%s"]}`, arg)
	}
	batch.WriteString(`]}`)
	text := `{"project":"rocket","command":["true"],"name":"` + strings.Repeat(`a\u0000\u001b`, 1<<19/3) + `"}`
	env := `{"project":"rocket","command":["true"],"env":{` + strings.TrimSuffix(strings.Repeat(`"A":"b",`, 1), ",")
	for i := 0; i < 20000; i++ {
		env += fmt.Sprintf(`,"V%d":"x"`, i)
	}
	env += `}}`
	cases := []struct {
		name, path string
		body       []byte
		want       []int
	}{
		{"4 MB spec, 1M-entry command", "/api/v1/jobs", cmd.Bytes(), []int{413, 422}},
		{"28.6 MB batch", "/api/v1/jobs:batch", batch.Bytes(), []int{413, 422}},
		{"1.5 MB name with NUL and ESC", "/api/v1/jobs", []byte(text), []int{413, 422}},
		{"20,000 environment variables", "/api/v1/jobs", []byte(env), []int{413, 422}},
		{"project description of 1.5 MB", "/api/v1/projects", []byte(`{"name":"big","org":"acme","description":"` + strings.Repeat("d", 1500<<10) + `"}`), []int{413, 422}},
	}
	for _, c := range cases {
		a := s.do(ten.alice, "POST", c.path, c.body)
		if c.path == "/api/v1/projects" {
			a = s.do(s.admin, "POST", c.path, c.body)
		}
		good := false
		for _, w := range c.want {
			good = good || a.status == w
		}
		if !good {
			t.Errorf("%s (%d bytes): want one of %v, got %s", c.name, len(c.body), c.want, a)
		}
	}
	peak := s.peakRSS()
	t.Logf("server peak RSS: %.0f MiB before, %.0f MiB after the oversize requests", float64(base)/(1<<20), float64(peak)/(1<<20))
	if peak > 256<<20 {
		t.Errorf("peak RSS %.0f MiB: oversize input is not bounded", float64(peak)/(1<<20))
	}
	a := s.mustDo(200, ten.alice, "GET", "/api/v1/jobs", nil)
	if len(a.body) > 1<<20 {
		t.Errorf("GET /jobs returned %d bytes", len(a.body))
	}
}

// TestRateLimit: a token that sends far more requests than its rate gets
// 429 with Retry-After; another tenant's token is not affected.
func TestRateLimit(t *testing.T) {
	s := startServer(t, serverOptions{config: localSite(4, "")})
	ten := s.addTenants()
	limited := 0
	var retry string
	for i := 0; i < 2000 && limited == 0; i++ {
		a := s.do(ten.alice, "GET", "/api/v1/users/me", nil)
		if a.status == 429 {
			limited++
			retry = a.header.Get("Retry-After")
		}
	}
	if limited == 0 {
		t.Fatal("2,000 requests in a burst were never limited")
	}
	if retry == "" {
		t.Error("429 without Retry-After")
	}
	s.mustDo(200, ten.bob, "GET", "/api/v1/users/me", nil)
}
