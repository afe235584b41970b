package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxWalltime bounds every walltime a parser accepts, so arithmetic on it
// cannot overflow; no site runs a job for a year.
const MaxWalltime = 365 * 24 * time.Hour

// ParseWalltime parses a walltime written as Go duration text ("1h30m",
// "90m", "45s") or in one of Slurm's colon forms ("2:00:00", "1-00:00:00",
// "1-12", "30:00"). A bare number is refused as ambiguous (Slurm reads
// minutes, most people seconds): write "90m" or "90s".
func ParseWalltime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty walltime")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("must not be negative, got %s", s)
	}
	if isDigits(s) {
		return 0, fmt.Errorf("ambiguous walltime %q: write %sm for minutes or %ss for seconds", s, s, s)
	}
	if strings.ContainsAny(s, ":-") {
		return ParseSlurmTime(s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration like 1h30m, 90m or 2:00:00, got %q", s)
	}
	return checkWalltime(d, s)
}

// ParseSlurmTime parses sbatch's --time formats: M, M:S, H:M:S, D-H, D-H:M
// and D-H:M:S. "UNLIMITED" and "INFINITE" are refused: Gigafactory needs a
// limit to plan with.
func ParseSlurmTime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "unlimited", "infinite":
		return 0, fmt.Errorf("%s is not supported: give a limit such as 2:00:00", s)
	}
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("want a Slurm time (M, M:S, H:M:S, D-H, D-H:M or D-H:M:S), got %q", s)
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("must not be negative, got %s", s)
	}
	var days int64
	rest := s
	hasDays := false
	if d, r, ok := strings.Cut(s, "-"); ok {
		v, ok := number(d)
		if !ok {
			return bad()
		}
		days, rest, hasDays = v, r, true
	}
	parts := strings.Split(rest, ":")
	nums := make([]int64, len(parts))
	for i, p := range parts {
		v, ok := number(p)
		if !ok {
			return bad()
		}
		nums[i] = v
	}
	var h, m, sec int64
	switch {
	case hasDays && len(nums) == 1:
		h = nums[0]
	case hasDays && len(nums) == 2:
		h, m = nums[0], nums[1]
	case hasDays && len(nums) == 3:
		h, m, sec = nums[0], nums[1], nums[2]
	case len(nums) == 1:
		m = nums[0]
	case len(nums) == 2:
		m, sec = nums[0], nums[1]
	case len(nums) == 3:
		h, m, sec = nums[0], nums[1], nums[2]
	default:
		return bad()
	}
	total := ((days*24+h)*60+m)*60 + sec
	if total > int64(MaxWalltime/time.Second) {
		return 0, fmt.Errorf("must be at most 365 days, got %s", s)
	}
	return time.Duration(total) * time.Second, nil
}

// number parses a short run of decimal digits; the length bound keeps every
// later product far from overflow.
func number(s string) (int64, bool) {
	if s == "" || len(s) > 9 || !isDigits(s) {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func checkWalltime(d time.Duration, s string) (time.Duration, error) {
	if d < 0 {
		return 0, fmt.Errorf("must not be negative, got %s", s)
	}
	if d > MaxWalltime {
		return 0, fmt.Errorf("must be at most 365 days, got %s", s)
	}
	return d, nil
}
