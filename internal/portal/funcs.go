package portal

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

// funcs format numbers as people read them: thousands separators, units,
// a fixed number of decimals.
var funcs = template.FuncMap{
	"num":   num,
	"dec":   dec,
	"pct":   pct,
	"when":  when,
	"dur":   dur,
	"sci":   sci,
	"add":   func(a, b int) int { return a + b },
	"ratio": ratio,
	"level": level,
	"join":  strings.Join,
	"float": toFloat,
	"coord": coord,
	"hours": hours,
}

// num writes an integer with thousands separators: 100,000.
func num(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case int32:
		n = int64(x)
	case float64:
		n = int64(math.Round(x))
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// dec writes a float with d decimals and thousands separators.
func dec(d int, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', d, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	out := num(n)
	if frac != "" {
		out += "." + frac
	}
	if v < 0 && strings.Trim(s, "0.") != "" {
		out = "-" + out
	}
	return out
}

// pct writes part/whole as a percentage with one decimal.
func pct(part, whole float64) string {
	if whole <= 0 {
		return "–"
	}
	return dec(1, 100*part/whole) + " %"
}

// ratio is part/whole in [0,1] (0 when whole is 0).
func ratio(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return math.Min(1, math.Max(0, part/whole))
}

// level buckets a ratio into 0..5 for colour classes (u0..u5).
func level(r float64) int {
	switch {
	case r <= 0:
		return 0
	case r < 0.25:
		return 1
	case r < 0.5:
		return 2
	case r < 0.75:
		return 3
	case r < 0.95:
		return 4
	}
	return 5
}

// sci writes a large count (FLOP) as 6.6 × 10²³.
func sci(v float64) string {
	if v == 0 {
		return "0"
	}
	e := int(math.Floor(math.Log10(math.Abs(v))))
	m := v / math.Pow(10, float64(e))
	sup := map[rune]rune{'0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹', '-': '⁻'}
	var b strings.Builder
	for _, c := range strconv.Itoa(e) {
		b.WriteRune(sup[c])
	}
	return fmt.Sprintf("%.2f × 10%s", m, b.String())
}

// when writes a time in UTC, to the second; "–" for none.
func when(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "–"
		}
		t = *x
	default:
		return fmt.Sprint(v)
	}
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// dur writes a duration (time's or core's) in whole seconds, minutes or
// hours.
func dur(v any) string {
	var d time.Duration
	switch x := v.(type) {
	case time.Duration:
		d = x
	case core.Duration:
		d = time.Duration(x)
	default:
		return fmt.Sprint(v)
	}
	switch {
	case d <= 0:
		return "–"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return dec(1, d.Hours()) + " h"
}

// toFloat converts a template's number to float64.
func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

// coord writes an SVG coordinate: one decimal, no separators.
func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// hours writes an amount of hours with as many decimals as its size needs
// to show a change: 0.012, 12.5, 1,250.
func hours(v float64) string {
	switch a := math.Abs(v); {
	case a < 10:
		return dec(3, v)
	case a < 1000:
		return dec(1, v)
	}
	return dec(0, v)
}
