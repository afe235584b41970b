// Package geo is the portal's map of Europe: country outlines from Natural
// Earth (europe.json, made by ./gen from npm's world-atlas), the projection
// that places a point on them, and a table of the sites' cities
// (places.json). Everything is embedded; nothing is read at run time.
package geo

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gigafactory/gigafactory/internal/portal/geo/laea"
)

//go:generate go run ./gen

// Country is one country's outline on the map.
type Country struct {
	// Code is the ISO 3166-1 alpha-2 code ("XK" for Kosovo).
	Code string `json:"code"`
	// Name is the English short name.
	Name string `json:"name"`
	// Path is the SVG path data of the outline in ViewBox units: absolute
	// M, L and Z commands, one subpath per island, holes wound opposite to
	// their outline (draw with fill-rule evenodd or nonzero).
	Path string `json:"d"`
}

//go:embed europe.json
var europeJSON []byte

//go:embed places.json
var placesJSON []byte

type europeFile struct {
	ViewBox   string    `json:"viewBox"`
	Countries []Country `json:"countries"`
}

type point struct{ Lat, Lon float64 }

type placesFile struct {
	Countries []struct {
		Code    string  `json:"code"`
		Capital string  `json:"capital"`
		Lat     float64 `json:"lat"`
		Lon     float64 `json:"lon"`
	} `json:"countries"`
	Cities []struct {
		Country string   `json:"country"`
		City    string   `json:"city"`
		Aka     []string `json:"aka"`
		Lat     float64  `json:"lat"`
		Lon     float64  `json:"lon"`
	} `json:"cities"`
}

var (
	europe  europeFile
	capital = map[string]point{} // country code -> its point
	city    = map[string]point{} // code + "/" + normalised city name -> its point
)

func init() {
	if err := load(); err != nil {
		panic(err) // the files are compiled in and tested; this is a build defect
	}
}

func load() error {
	if err := json.Unmarshal(europeJSON, &europe); err != nil {
		return fmt.Errorf("geo: europe.json: %w", err)
	}
	if europe.ViewBox != laea.ViewBox() {
		return fmt.Errorf("geo: europe.json: viewBox %q, but the projection's is %q: run go generate", europe.ViewBox, laea.ViewBox())
	}
	var p placesFile
	if err := json.Unmarshal(placesJSON, &p); err != nil {
		return fmt.Errorf("geo: places.json: %w", err)
	}
	for i, c := range p.Countries {
		if c.Code == "" || c.Capital == "" {
			return fmt.Errorf("geo: places.json: countries[%d]: code and capital are required", i)
		}
		capital[c.Code] = point{c.Lat, c.Lon}
		city[c.Code+"/"+normalize(c.Capital)] = point{c.Lat, c.Lon}
	}
	for i, c := range p.Cities {
		if _, ok := capital[c.Country]; !ok {
			return fmt.Errorf("geo: places.json: cities[%d].country: %q has no row in countries", i, c.Country)
		}
		for _, name := range append([]string{c.City}, c.Aka...) {
			city[c.Country+"/"+normalize(name)] = point{c.Lat, c.Lon}
		}
	}
	return nil
}

// ViewBox returns the SVG viewBox of the map, "0 0 1000 H": x grows east,
// y grows south.
func ViewBox() string { return europe.ViewBox }

// Countries returns the countries on the map (Europe and the neighbours in
// its frame), sorted by code. Countries smaller than the map can show
// (Monaco, Vatican City) are left out. The caller may change the slice.
func Countries() []Country { return slices.Clone(europe.Countries) }

// Project maps a point (degrees north, degrees east) to ViewBox units with
// the map's own projection (Lambert azimuthal equal-area, as EPSG:3035), so
// a dot drawn there lands on the place. Points between 25°W and 45°E and
// 34°N and 72°N fall inside the ViewBox.
func Project(lat, lon float64) (x, y float64) { return laea.Project(lat, lon) }

// Locate returns the coordinates of a site's city in a country (ISO 3166-1
// alpha-2; "EL" and "UK" are taken for GR and GB). The city is matched
// without regard to case, words in brackets are dropped, and a list ("A and
// B", "A + B", "A, B") gives its first known city. A city it does not know
// (or "") gives the country's capital; ok is false only when the country
// is unknown too.
func Locate(country, cityName string) (lat, lon float64, ok bool) {
	code := strings.ToUpper(strings.TrimSpace(country))
	switch code {
	case "EL":
		code = "GR"
	case "UK":
		code = "GB"
	}
	for _, part := range cityParts(cityName) {
		if p, found := city[code+"/"+part]; found {
			return p.Lat, p.Lon, true
		}
	}
	p, found := capital[code]
	return p.Lat, p.Lon, found
}

// cityParts splits a free-text city ("Bissen (and Bettembourg)", "Mora la
// Nova (Tarragona) + San Fernando de Henares (Madrid)") into normalised
// names, first one first.
func cityParts(s string) []string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	s = strings.NewReplacer(" and ", ",", " + ", ",", ";", ",", "/", ",").Replace(b.String())
	var parts []string
	for part := range strings.SplitSeq(s, ",") {
		if n := normalize(part); n != "" {
			parts = append(parts, n)
		}
	}
	return parts
}

// normalize lower-cases a name and folds its spaces.
func normalize(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}
