package slurm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// secret holds a JWT. It formats and logs as "[redacted]" so that a token
// can never reach a log line or an error message by accident.
type secret string

// String redacts the secret.
func (secret) String() string { return "[redacted]" }

// GoString redacts the secret for %#v.
func (secret) GoString() string { return "[redacted]" }

// LogValue redacts the secret for slog.
func (secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalJSON redacts the secret.
func (secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// tokenSource hands out the X-SLURM-USER-TOKEN for each request. A token
// comes from the configuration (fixed), a file (re-read when it changes) or
// a command such as `scontrol token lifespan=3600` (re-run). Tokens whose
// JWT carries an expiry are refreshed before it; a request that failed the
// way an expired token fails (slurmrestd 22.05 answers 500) invalidates the
// cached one.
type tokenSource struct {
	static  secret
	file    string
	command string
	now     func() time.Time

	mu      sync.Mutex
	tok     secret
	exp     time.Time // zero: unknown
	fetched time.Time
	modTime time.Time // of file when read
}

// String describes where the token comes from, never the token.
func (s *tokenSource) String() string {
	switch {
	case s.command != "":
		return "token from command"
	case s.file != "":
		return "token from file " + s.file
	}
	return "fixed token"
}

// LogValue logs the description of String.
func (s *tokenSource) LogValue() slog.Value { return slog.StringValue(s.String()) }

// commandTokenTTL is how long a token from a command without a readable
// expiry is used before the command runs again.
const commandTokenTTL = 10 * time.Minute

// refreshable reports whether invalidating the token can yield a new one.
func (s *tokenSource) refreshable() bool { return s.file != "" || s.command != "" }

// get returns a token valid for a while yet.
func (s *tokenSource) get(ctx context.Context) (secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.tok != "" && !s.stale(now) {
		return s.tok, nil
	}
	switch {
	case s.command != "":
		tok, err := runTokenCommand(ctx, s.command)
		if err != nil {
			if s.tok != "" && (s.exp.IsZero() || now.Before(s.exp)) {
				return s.tok, nil // keep the old one while it lasts
			}
			return "", err
		}
		s.set(tok, now)
	case s.file != "":
		st, err := os.Stat(s.file)
		if err != nil {
			return "", fmt.Errorf("slurm token file: %w", err)
		}
		b, err := os.ReadFile(s.file)
		if err != nil {
			return "", fmt.Errorf("slurm token file: %w", err)
		}
		tok := parseToken(b)
		if tok == "" {
			return "", fmt.Errorf("slurm token file %s holds no token", s.file)
		}
		s.set(tok, now)
		s.modTime = st.ModTime()
	default:
		if s.static == "" {
			return "", errors.New("slurm: no token configured (token, token_file or token_command)")
		}
		s.set(s.static, now)
	}
	return s.tok, nil
}

// stale reports whether the cached token must be fetched again: it expires
// soon, or the file changed, or a command's token without expiry is old.
func (s *tokenSource) stale(now time.Time) bool {
	if !s.exp.IsZero() {
		life := s.exp.Sub(s.fetched)
		margin := min(life/5, time.Minute)
		if !now.Before(s.exp.Add(-margin)) {
			return s.refreshable()
		}
	}
	switch {
	case s.file != "":
		st, err := os.Stat(s.file)
		return err != nil || !st.ModTime().Equal(s.modTime)
	case s.command != "":
		return s.exp.IsZero() && now.Sub(s.fetched) > commandTokenTTL
	}
	return false
}

func (s *tokenSource) set(tok secret, now time.Time) {
	s.tok, s.fetched, s.exp = tok, now, jwtExpiry(string(tok))
}

// invalidate drops the cached token so the next get fetches a fresh one.
// It reports whether a fresh one may differ.
func (s *tokenSource) invalidate() bool {
	if !s.refreshable() {
		return false
	}
	s.mu.Lock()
	s.tok = ""
	s.mu.Unlock()
	return true
}

// runTokenCommand runs command with sh -c and returns the token it prints,
// either bare or as scontrol's "SLURM_JWT=..." line. The command's output
// is never put into an error: it holds the secret.
func runTokenCommand(ctx context.Context, command string) (secret, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Env = withoutJWT(os.Environ())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return "", fmt.Errorf("slurm token command failed: %v: %s", err, msg)
	}
	tok := parseToken(out)
	if tok == "" {
		return "", errors.New("slurm token command printed no token")
	}
	return tok, nil
}

// withoutJWT drops SLURM_JWT from env: with it set, scontrol authenticates
// with that (possibly expired) token instead of munge.
func withoutJWT(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "SLURM_JWT=") {
			out = append(out, e)
		}
	}
	return out
}

// parseToken finds the token in a file's or a command's output: the value
// of a "SLURM_JWT=" line, else the first non-empty line.
func parseToken(b []byte) secret {
	var first string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "export ")
		if v, ok := strings.CutPrefix(line, "SLURM_JWT="); ok {
			return secret(strings.Trim(v, `"'`))
		}
		if first == "" && line != "" {
			first = line
		}
	}
	return secret(first)
}

// jwtExpiry reads the exp claim of a JWT without verifying it (only
// slurmctld can). It returns the zero time when there is none.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	n, err := claims.Exp.Int64()
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0)
}
