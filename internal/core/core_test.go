package core

import (
	"fmt"
	"testing"
)

func TestParseMilli(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    Milli
		wantErr bool
	}{
		"whole":      {in: "8", want: 8000},
		"fraction":   {in: "0.25", want: 250},
		"leading 0":  {in: "08", want: 8000},
		"zero":       {in: "0", want: 0},
		"thousandth": {in: "1.001", want: 1001},
		"negative":   {in: "-1", wantErr: true},
		"too fine":   {in: "0.0001", wantErr: true},
		"text":       {in: "abc", wantErr: true},
		"junk frac":  {in: "1.2x", wantErr: true},
		"huge":       {in: "99999999999", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseMilli(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseMilli(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseMilli(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestMilliString(t *testing.T) {
	for m, want := range map[Milli]string{8000: "8", 250: "0.25", 1001: "1.001", 0: "0"} {
		if got := m.String(); got != want {
			t.Errorf("Milli(%d).String() = %q, want %q", m, got, want)
		}
	}
}

func TestParseExport(t *testing.T) {
	for _, c := range []struct {
		in    string
		all   bool
		names []string
		set   map[string]string
	}{
		{"", true, nil, map[string]string{}},
		{"ALL", true, nil, map[string]string{}},
		{"NONE", false, nil, map[string]string{}},
		{"NONE,A=1,B", false, []string{"B"}, map[string]string{"A": "1"}},
		{"ALL,X=y", true, nil, map[string]string{"X": "y"}},
		{"A,B=2", false, []string{"A"}, map[string]string{"B": "2"}},
	} {
		e := ParseExport(c.in)
		if e.All != c.all || fmt.Sprint(e.Names) != fmt.Sprint(c.names) || fmt.Sprint(e.Set) != fmt.Sprint(c.set) {
			t.Errorf("ParseExport(%q) = %+v", c.in, e)
		}
	}
}

func TestArrayStep(t *testing.T) {
	for _, c := range []struct {
		a    JobArray
		want int
	}{
		{JobArray{Ranges: []ArrayRange{{First: 0, Last: 98, Step: 2}}}, 2},
		{JobArray{Ranges: []ArrayRange{{First: 1, Last: 1}, {First: 3, Last: 3}, {First: 5, Last: 5}}}, 2},
		{JobArray{Ranges: []ArrayRange{{First: 1, Last: 1}, {First: 2, Last: 2}, {First: 5, Last: 5}}}, 1},
		{JobArray{Ranges: []ArrayRange{{First: 7, Last: 7}}}, 1},
	} {
		if got := c.a.Step(); got != c.want {
			t.Errorf("%s: step %d, want %d", c.a.String(), got, c.want)
		}
	}
}
