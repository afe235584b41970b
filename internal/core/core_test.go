package core

import "testing"

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
