package geo

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gigafactory/gigafactory/internal/config"
	"github.com/gigafactory/gigafactory/internal/portal/geo/laea"
)

// bbox is the bounding box of a path in viewBox units.
type bbox struct{ minX, minY, maxX, maxY float64 }

func (b bbox) contains(x, y float64) bool {
	return x >= b.minX && x <= b.maxX && y >= b.minY && y <= b.maxY
}

// pathRE is the grammar europe.json's paths keep to: subpaths of an M, an
// L with one or more pairs, and a Z; numbers with at most one decimal.
var pathRE = regexp.MustCompile(`^(M-?\d+(\.\d)? -?\d+(\.\d)?L-?\d+(\.\d)? -?\d+(\.\d)?( -?\d+(\.\d)? -?\d+(\.\d)?)*Z)+$`)

// parsePath checks a path's syntax and returns its bounding box.
func parsePath(t *testing.T, code, d string) bbox {
	t.Helper()
	if !pathRE.MatchString(d) {
		t.Fatalf("%s: path is not M x y L x y … Z: %.80q…", code, d)
	}
	b := bbox{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	fields := strings.FieldsFunc(d, func(r rune) bool { return r == 'M' || r == 'L' || r == 'Z' || r == ' ' })
	for i := 0; i+1 < len(fields); i += 2 {
		x, err1 := strconv.ParseFloat(fields[i], 64)
		y, err2 := strconv.ParseFloat(fields[i+1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: bad number near %q %q", code, fields[i], fields[i+1])
		}
		b = bbox{min(b.minX, x), min(b.minY, y), max(b.maxX, x), max(b.maxY, y)}
	}
	return b
}

// boxes returns each country's bounding box, by code.
func boxes(t *testing.T) map[string]bbox {
	t.Helper()
	out := map[string]bbox{}
	for _, c := range Countries() {
		out[c.Code] = parsePath(t, c.Code, c.Path)
	}
	return out
}

func TestEuropeJSON(t *testing.T) {
	if n := len(europeJSON); n > 250_000 {
		t.Errorf("europe.json is %d bytes, want at most 250,000", n)
	}
	var f europeFile
	if err := json.Unmarshal(europeJSON, &f); err != nil {
		t.Fatal(err)
	}
	if got, want := ViewBox(), laea.ViewBox(); got != want || f.ViewBox != want {
		t.Errorf("ViewBox() = %q, file %q, want the projection's %q", got, f.ViewBox, want)
	}
	codeRE := regexp.MustCompile(`^[A-Z]{2}$`)
	prev := ""
	cs := Countries()
	for _, c := range cs {
		if !codeRE.MatchString(c.Code) || c.Code <= prev {
			t.Errorf("code %q after %q: want two capitals, sorted, once each", c.Code, prev)
		}
		prev = c.Code
		if c.Name == "" {
			t.Errorf("%s: no name", c.Code)
		}
		b := parsePath(t, c.Code, c.Path)
		if b.minX < 0 || b.minY < 0 || b.maxX > laea.Width || b.maxY > laea.Height() {
			t.Errorf("%s: path reaches %+v, outside the viewBox %s", c.Code, b, ViewBox())
		}
	}
	// Every country of the EU and of the EEA, Switzerland and the UK.
	have := map[string]bool{}
	for _, c := range cs {
		have[c.Code] = true
	}
	for _, code := range strings.Fields("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE NO IS LI CH GB") {
		if !have[code] {
			t.Errorf("%s: not on the map", code)
		}
	}
	cs[0].Code = "changed"
	if Countries()[0].Code == "changed" {
		t.Error("Countries() shares its slice with the caller")
	}
}

func TestPathRE(t *testing.T) {
	tests := map[string]bool{
		"M1 2L3 4 5 6Z":          true,
		"M1.5 -2L3 4Z M1 1L2 2Z": false, // no spaces between subpaths
		"M1 2L3 4ZM5 6L7 8 9 9Z": true,
		"M1 2L3 4":               false,
		"M1 2Z":                  false,
		"M1.25 2L3 4Z":           false,
		"M1 2C3 4 5 6Z":          false,
		"":                       false,
	}
	for d, want := range tests {
		if got := pathRE.MatchString(d); got != want {
			t.Errorf("pathRE(%q) = %v, want %v", d, got, want)
		}
	}
}

func TestPlacesInTheirCountry(t *testing.T) {
	bb := boxes(t)
	tests := []struct{ country, city string }{
		{"FI", "Kajaani"}, {"IT", "Bologna"}, {"DE", "Jülich"}, {"ES", "Barcelona"},
		{"CZ", "Ostrava"}, {"LU", "Luxembourg"}, {"LU", "Bissen"}, {"GR", "Athens"},
		{"SE", "Linköping"}, {"PL", "Kraków"}, {"ES", "Santiago de Compostela"},
		{"MT", "Valletta"}, {"CY", "Nicosia"}, {"IS", "Reykjavik"}, {"SK", "Bratislava"},
	}
	// and every city and capital of places.json
	var p placesFile
	if err := json.Unmarshal(placesJSON, &p); err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Cities {
		tests = append(tests, struct{ country, city string }{c.Country, c.City})
	}
	for _, c := range p.Countries {
		tests = append(tests, struct{ country, city string }{c.Code, c.Capital})
	}
	for _, tc := range tests {
		lat, lon, ok := Locate(tc.country, tc.city)
		if !ok {
			t.Errorf("Locate(%s, %s): not found", tc.country, tc.city)
			continue
		}
		b, drawn := bb[tc.country]
		if !drawn {
			t.Errorf("%s (%s): country not on the map", tc.city, tc.country)
			continue
		}
		if x, y := Project(lat, lon); !b.contains(x, y) {
			t.Errorf("%s (%s) at %.1f,%.1f: outside its country's box %+v", tc.city, tc.country, x, y, b)
		}
	}
}

func TestEUSitesOnTheMap(t *testing.T) {
	bb := boxes(t)
	for _, s := range config.EU().Sites {
		lat, lon, ok := Locate(s.Country, s.City)
		if !ok {
			t.Errorf("%s: Locate(%q, %q) found neither the city nor the country", s.ID, s.Country, s.City)
			continue
		}
		if x, y := Project(lat, lon); !bb[s.Country].contains(x, y) {
			t.Errorf("%s (%s, %s) at %.1f,%.1f: outside its country", s.ID, s.City, s.Country, x, y)
		}
	}
}

func TestLocate(t *testing.T) {
	tests := map[string]struct {
		country, city string
		lat, lon      float64
		ok            bool
	}{
		"city":                               {"FI", "Kajaani", 64.2273, 27.7285, true},
		"case and spaces":                    {"fi", "  KAJAANI ", 64.2273, 27.7285, true},
		"other spelling":                     {"DE", "Jülich", 50.9220, 6.3583, true},
		"capital as a city":                  {"LU", "Luxembourg", 49.6116, 6.1319, true},
		"words in brackets":                  {"LU", "Bissen (and Bettembourg)", 49.7872, 6.0664, true},
		"first of a list":                    {"ES", "Mora la Nova (Tarragona) + San Fernando de Henares (Madrid)", 41.1044, 0.6553, true},
		"first known of a list":              {"ES", "Atlantis and Barcelona", 41.3874, 2.1686, true},
		"unknown city":                       {"PL", "up to two Polish sites (not named)", 52.2297, 21.0122, true},
		"no city":                            {"IE", "", 53.3498, -6.2603, true},
		"city of another country falls back": {"DE", "Vienna", 52.5200, 13.4050, true},
		"EU code for Greece":                 {"EL", "Athens", 37.9838, 23.7275, true},
		"unknown country":                    {"ZZ", "Kajaani", 0, 0, false},
		"no country":                         {"", "", 0, 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			lat, lon, ok := Locate(tc.country, tc.city)
			if lat != tc.lat || lon != tc.lon || ok != tc.ok {
				t.Errorf("Locate(%q, %q) = %v, %v, %v; want %v, %v, %v", tc.country, tc.city, lat, lon, ok, tc.lat, tc.lon, tc.ok)
			}
		})
	}
}

func TestProject(t *testing.T) {
	w, h := laea.Width, laea.Height()
	if got := ViewBox(); got != "0 0 1000 "+strconv.FormatFloat(h, 'f', -1, 64) {
		t.Errorf("ViewBox() = %q", got)
	}
	for lat := laea.South; lat <= laea.North; lat += 2 {
		for lon := laea.West; lon <= laea.East; lon += 2.5 {
			x, y := Project(lat, lon)
			if x < 0 || x > w || y < 0 || y > h {
				t.Errorf("Project(%v, %v) = %.1f, %.1f: outside the viewBox", lat, lon, x, y)
			}
			if ex, _ := Project(lat, lon+1); ex <= x {
				t.Errorf("Project(%v, %v): x %.2f, and 1° east %.2f, want larger", lat, lon, x, ex)
			}
			if _, ny := Project(lat+1, lon); ny >= y {
				t.Errorf("Project(%v, %v): y %.2f, and 1° north %.2f, want smaller", lat, lon, y, ny)
			}
		}
	}
	// The centre of EPSG:3035 is on the centre line of the frame.
	if x, _ := Project(52, 10); math.Abs(x-w/2) > 0.5 {
		t.Errorf("Project(52, 10) x = %.2f, want %v", x, w/2)
	}
}

// TestGenerateDeterministic runs the generator twice on world-atlas and
// wants the same bytes each time, and the committed europe.json. It needs
// scripts/portal-map/node_modules (npm ci); without it, it skips: CI need
// not install npm packages, since europe.json is committed and the other
// tests check it.
func TestGenerateDeterministic(t *testing.T) {
	in := "../../../scripts/portal-map/node_modules/world-atlas/countries-50m.json"
	if _, err := os.Stat(in); err != nil {
		t.Skipf("no world-atlas (run npm ci in scripts/portal-map): %v", err)
	}
	if testing.Short() {
		t.Skip("builds and runs the generator")
	}
	dir := t.TempDir()
	var outs [][]byte
	for i := range 2 {
		out := filepath.Join(dir, strconv.Itoa(i)+".json")
		cmd := exec.Command("go", "run", "./gen", "-in", in, "-out", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go run ./gen: %v\n%s", err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("two runs of the generator differ")
	}
	if !bytes.Equal(outs[0], europeJSON) {
		t.Error("europe.json is not what the generator writes from world-atlas: run go generate and commit it")
	}
}
