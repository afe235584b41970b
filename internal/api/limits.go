package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Limits of the front door, in one place; docs/API.md and the OpenAPI
// description list them. The limits of a job spec's own fields (entries of
// command and env, their sizes, the characters allowed) are package spec's
// (spec.MaxCommandArgs, spec.MaxEnvEntries, ...).
const (
	// MaxBody bounds the body of every route that does not say otherwise
	// (organisations, projects, users, tokens).
	MaxBody = 64 << 10
	// MaxJobBody bounds one job spec (POST /api/v1/jobs): room for a
	// script of spec.MaxScriptBytes and its JSON escaping.
	MaxJobBody = 2 << 20
	// MaxBatchBody bounds a batch (POST /api/v1/jobs:batch); each of its
	// jobs is also held to MaxJobBody.
	MaxBatchBody = 16 << 20
	// MaxBatch bounds the jobs of one batch submission.
	MaxBatch = 10000

	// DefaultPage and MaxPage are the page sizes of lists (?limit=).
	DefaultPage = 100
	MaxPage     = 1000
	// MaxPageBytes ends a page of jobs early once the specs on it pass
	// this size; next_cursor continues after the last job shown.
	MaxPageBytes = 4 << 20

	// Free-text fields.
	maxDescription    = 4096 // a project's description
	maxEmail          = 254  // RFC 5321's path limit
	maxLabel          = 128  // a token's label
	maxIdempotencyKey = 200  // Idempotency-Key header; a batch's key takes 180
	maxQueryValue     = 256  // one filter value of a list's query

	// DefaultRate and DefaultBurst are each token's request rate (requests
	// per second, sustained) and the burst it may spend at once.
	DefaultRate  = 200
	DefaultBurst = 1000
)

// checkText checks a free-text field: at most max bytes of valid UTF-8
// without control characters (tab and newline too when multiline is
// false).
func checkText(field, v string, max int, multiline bool) error {
	if len(v) > max {
		return tooLong(field, len(v), max)
	}
	if !utf8.ValidString(v) {
		return invalidField(field, "not valid UTF-8")
	}
	if i := strings.IndexFunc(v, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\t' || r == '\n'))
	}); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		return invalidField(field, "must not contain control characters, found %U at byte %d", r, i)
	}
	return nil
}

func tooLong(field string, got, max int) error {
	return invalidField(field, "at most %d bytes, got %d", max, got)
}

// checkEmail accepts a plain address: local@domain, no spaces or controls.
func checkEmail(v string) error {
	if err := checkText("email", v, maxEmail, false); err != nil {
		return err
	}
	local, domain, ok := strings.Cut(v, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || strings.ContainsAny(v, " <>,;\"") {
		return invalidField("email", "not an e-mail address: %q", v)
	}
	return nil
}

// pageLimit reads ?limit= (DefaultPage when absent).
func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return DefaultPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPage {
		return 0, invalidField("limit", "want a whole number from 1 to %d, got %.20q", MaxPage, v)
	}
	return n, nil
}

// RateLimit is each token's request rate: a token bucket of Burst
// requests refilled at PerSecond. A zero PerSecond turns limiting off.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// limiters holds one token bucket per API token (by hash), forgetting
// buckets idle long enough to be full again.
type limiters struct {
	cfg RateLimit
	mu  sync.Mutex
	m   map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxBuckets bounds the buckets kept; past it, idle ones are dropped.
const maxBuckets = 10000

// wait reports how long the caller holding key must wait before its next
// request is allowed: zero when it is allowed now (and counted).
func (l *limiters) wait(key string, now time.Time) time.Duration {
	if l == nil || l.cfg.PerSecond <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[key]
	if b == nil {
		if len(l.m) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.cfg.PerSecond), max(l.cfg.Burst, 1))}
		l.m[key] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// sweep drops the buckets that have refilled since they were last used,
// and, if that is not enough, every bucket (which only forgives).
func (l *limiters) sweep(now time.Time) {
	full := time.Duration(float64(max(l.cfg.Burst, 1)) / l.cfg.PerSecond * float64(time.Second))
	for k, b := range l.m {
		if now.Sub(b.seen) > full {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxBuckets {
		l.m = map[string]*bucket{}
	}
}

// tooManyRequests is the problem answered to a token over its rate.
func tooManyRequests(wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	return &apiError{status: http.StatusTooManyRequests, kind: "rate-limited", retryAfter: max(secs, 1),
		detail: fmt.Sprintf("over this token's rate of requests; retry in %d s", max(secs, 1))}
}
