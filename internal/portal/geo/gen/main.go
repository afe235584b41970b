// Command gen writes europe.json, the portal's map of Europe, from Natural
// Earth's countries as npm's world-atlas ships them (TopoJSON). Run it with
// go generate in internal/portal/geo after `npm ci` in scripts/portal-map.
//
// Steps: decode the TopoJSON (quantized, delta-encoded arcs; a negative arc
// index ~i is arc i reversed), keep the countries in the table below, clip
// each ring to the viewBox of laea (the bounding box of the projected frame),
// round to 0.1 unit, drop points
// closer than minStep to the last kept one, drop rings with less than
// minArea of area, and write one SVG path per country.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gigafactory/gigafactory/internal/portal/geo/laea"
)

// outer is the first, rough cut (west, south, east, north in degrees): it
// holds the whole viewBox, which is the bounding box of the projected frame
// and so reaches past the frame at its corners.
var outer = [4]float64{-50, 15, 80, 85}

const (
	minStep = 0.7 // viewBox units; about 4 km
	minArea = 0.5 // square viewBox units; about 15 km²
)

// country is one row of the table of kept countries.
type country struct{ code, name string }

// countries maps world-atlas ids (ISO 3166-1 numeric) to ISO 3166-1
// alpha-2 codes and English short names: every country of Natural Earth
// that has land in the frame. Features without an id are matched by name
// in unnamed.
var countries = map[string]country{
	"008": {"AL", "Albania"}, "012": {"DZ", "Algeria"}, "020": {"AD", "Andorra"},
	"031": {"AZ", "Azerbaijan"}, "040": {"AT", "Austria"}, "051": {"AM", "Armenia"},
	"056": {"BE", "Belgium"}, "070": {"BA", "Bosnia and Herzegovina"}, "100": {"BG", "Bulgaria"},
	"112": {"BY", "Belarus"}, "191": {"HR", "Croatia"}, "196": {"CY", "Cyprus"},
	"203": {"CZ", "Czechia"}, "208": {"DK", "Denmark"}, "233": {"EE", "Estonia"},
	"234": {"FO", "Faroe Islands"}, "246": {"FI", "Finland"},
	"248": {"FI", "Finland"}, // Åland, an autonomous region of Finland
	"250": {"FR", "France"}, "268": {"GE", "Georgia"}, "276": {"DE", "Germany"},
	"300": {"GR", "Greece"}, "304": {"GL", "Greenland"}, "336": {"VA", "Vatican City"},
	"348": {"HU", "Hungary"}, "352": {"IS", "Iceland"}, "364": {"IR", "Iran"},
	"368": {"IQ", "Iraq"}, "372": {"IE", "Ireland"}, "380": {"IT", "Italy"},
	"422": {"LB", "Lebanon"}, "428": {"LV", "Latvia"}, "438": {"LI", "Liechtenstein"},
	"440": {"LT", "Lithuania"}, "442": {"LU", "Luxembourg"}, "470": {"MT", "Malta"},
	"492": {"MC", "Monaco"}, "498": {"MD", "Moldova"}, "499": {"ME", "Montenegro"},
	"504": {"MA", "Morocco"}, "528": {"NL", "Netherlands"}, "578": {"NO", "Norway"},
	"616": {"PL", "Poland"}, "620": {"PT", "Portugal"}, "642": {"RO", "Romania"},
	"643": {"RU", "Russia"}, "674": {"SM", "San Marino"}, "688": {"RS", "Serbia"},
	"703": {"SK", "Slovakia"}, "705": {"SI", "Slovenia"}, "724": {"ES", "Spain"},
	"752": {"SE", "Sweden"}, "756": {"CH", "Switzerland"}, "760": {"SY", "Syria"},
	"788": {"TN", "Tunisia"}, "792": {"TR", "Turkey"}, "804": {"UA", "Ukraine"},
	"807": {"MK", "North Macedonia"}, "826": {"GB", "United Kingdom"},
	"682": {"SA", "Saudi Arabia"}, "400": {"JO", "Jordan"}, "376": {"IL", "Israel"},
	"275": {"PS", "Palestine"}, "818": {"EG", "Egypt"}, "434": {"LY", "Libya"},
	"398": {"KZ", "Kazakhstan"},
	"831": {"GG", "Guernsey"}, "832": {"JE", "Jersey"}, "833": {"IM", "Isle of Man"},
}

// unnamed maps the names of world-atlas features that have no numeric id.
var unnamed = map[string]country{
	"Kosovo": {"XK", "Kosovo"}, // XK: the user-assigned code the EU uses
	// The EU counts the whole island as Cyprus (Protocol 10 of the 2003 Act
	// of Accession); Natural Earth draws the north apart.
	"N. Cyprus": {"CY", "Cyprus"},
}

func main() {
	in := flag.String("in", "../../../scripts/portal-map/node_modules/world-atlas/countries-50m.json", "world-atlas TopoJSON file")
	out := flag.String("out", "europe.json", "file to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("%w (run `npm ci` in scripts/portal-map)", err)
	}
	topo, err := decode(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	m, err := build(topo)
	if err != nil {
		return err
	}
	b, err := encode(m)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// topology is the part of a TopoJSON file the generator reads.
type topology struct {
	Type      string `json:"type"`
	Transform *struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
	Arcs    [][][2]float64 `json:"arcs"`
	Objects map[string]struct {
		Geometries []geometry `json:"geometries"`
	} `json:"objects"`
}

type geometry struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Arcs       json.RawMessage `json:"arcs"`
	Properties struct {
		Name string `json:"name"`
	} `json:"properties"`
}

type point struct{ x, y float64 }

// topoData is a decoded topology: absolute arcs in degrees (x = lon).
type topoData struct {
	arcs       [][]point
	geometries []geometry
}

func decode(raw []byte) (*topoData, error) {
	var t topology
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	if t.Type != "Topology" {
		return nil, fmt.Errorf("type: want Topology, got %q", t.Type)
	}
	obj, ok := t.Objects["countries"]
	if !ok {
		return nil, fmt.Errorf("objects: no countries")
	}
	d := &topoData{geometries: obj.Geometries}
	for _, a := range t.Arcs {
		pts := make([]point, len(a))
		var x, y float64
		for i, p := range a {
			if t.Transform != nil { // quantized: positions are deltas
				x, y = x+p[0], y+p[1]
				pts[i] = point{x*t.Transform.Scale[0] + t.Transform.Translate[0], y*t.Transform.Scale[1] + t.Transform.Translate[1]}
			} else {
				pts[i] = point{p[0], p[1]}
			}
		}
		d.arcs = append(d.arcs, pts)
	}
	return d, nil
}

// polygons returns a geometry's polygons as rings of arc indexes.
func (g geometry) polygons() ([][][]int, error) {
	switch g.Type {
	case "Polygon":
		var p [][]int
		err := json.Unmarshal(g.Arcs, &p)
		return [][][]int{p}, err
	case "MultiPolygon":
		var mp [][][]int
		err := json.Unmarshal(g.Arcs, &mp)
		return mp, err
	case "", "null": // a feature with no geometry
		return nil, nil
	}
	return nil, fmt.Errorf("geometry %s (%s): unsupported type %q", g.ID, g.Properties.Name, g.Type)
}

// ring stitches arcs into one ring; each arc after the first starts where
// the one before ended, so its first point is dropped.
func (d *topoData) ring(idx []int) ([]point, error) {
	var r []point
	for k, i := range idx {
		j := i
		if i < 0 {
			j = ^i
		}
		if j >= len(d.arcs) {
			return nil, fmt.Errorf("arc %d: only %d arcs", i, len(d.arcs))
		}
		a := d.arcs[j]
		if i < 0 {
			a = slices.Clone(a)
			slices.Reverse(a)
		}
		if k > 0 && len(a) > 0 {
			a = a[1:]
		}
		r = append(r, a...)
	}
	return r, nil
}

// Map is the content of europe.json.
type Map struct {
	Source    string     `json:"source"`
	ViewBox   string     `json:"viewBox"`
	Frame     [4]float64 `json:"frame"` // west, south, east, north (degrees)
	Countries []Country  `json:"countries"`
}

// Country is one country of the map.
type Country struct {
	Code string `json:"code"`
	Name string `json:"name"`
	Path string `json:"d"`
}

func build(d *topoData) (*Map, error) {
	rings := map[string][][]point{} // alpha-2 -> projected, simplified rings
	names := map[string]string{}
	for _, g := range d.geometries {
		c, ok := countries[g.ID]
		if g.ID == "" {
			c, ok = unnamed[g.Properties.Name]
		}
		polys, err := g.polygons()
		if err != nil {
			return nil, err
		}
		for _, p := range polys {
			for _, idx := range p {
				r, err := d.ring(idx)
				if err != nil {
					return nil, fmt.Errorf("geometry %s (%s): %w", g.ID, g.Properties.Name, err)
				}
				// A first cut in degrees keeps far-away land (and the
				// projection's antipode) out; its edges are curves on the
				// map, so the exact cut is the second, to the viewBox.
				r = clip(r, outer[0], outer[1], outer[2], outer[3])
				if len(r) > 0 {
					r = clip(project(r), 0, 0, laea.Width, laea.Height())
				}
				if len(r) == 0 {
					continue
				}
				if !ok {
					return nil, fmt.Errorf("geometry %q (%s) has land in the frame but no row in the table of countries", g.ID, g.Properties.Name)
				}
				if r = simplify(roundRing(r)); r != nil {
					rings[c.code] = append(rings[c.code], r)
					names[c.code] = c.name
				}
			}
		}
	}
	m := &Map{
		Source:  "Natural Earth 1:50m countries via npm world-atlas (countries-50m.json); see SOURCES.md",
		ViewBox: laea.ViewBox(),
		Frame:   [4]float64{laea.West, laea.South, laea.East, laea.North},
	}
	codes := make([]string, 0, len(rings))
	for code := range rings {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		m.Countries = append(m.Countries, Country{Code: code, Name: names[code], Path: path(rings[code])})
	}
	return m, nil
}

// clip cuts a ring to a rectangle, one edge at a time (Sutherland–Hodgman).
// Parts of a concave ring outside the rectangle become edges along its
// border that enclose no area and draw as nothing.
func clip(r []point, minX, minY, maxX, maxY float64) []point {
	type edge struct {
		inside func(p point) bool
		cross  func(a, b point) point
	}
	atX := func(x float64) func(a, b point) point {
		return func(a, b point) point { return point{x, a.y + (b.y-a.y)*(x-a.x)/(b.x-a.x)} }
	}
	atY := func(y float64) func(a, b point) point {
		return func(a, b point) point { return point{a.x + (b.x-a.x)*(y-a.y)/(b.y-a.y), y} }
	}
	edges := []edge{
		{func(p point) bool { return p.x >= minX }, atX(minX)},
		{func(p point) bool { return p.x <= maxX }, atX(maxX)},
		{func(p point) bool { return p.y >= minY }, atY(minY)},
		{func(p point) bool { return p.y <= maxY }, atY(maxY)},
	}
	for _, e := range edges {
		if len(r) == 0 {
			return nil
		}
		var out []point
		prev := r[len(r)-1]
		for _, cur := range r {
			switch {
			case e.inside(cur) && !e.inside(prev):
				out = append(out, e.cross(prev, cur), cur)
			case e.inside(cur):
				out = append(out, cur)
			case e.inside(prev):
				out = append(out, e.cross(prev, cur))
			}
			prev = cur
		}
		r = out
	}
	return r
}

// project maps a ring from degrees to viewBox units.
func project(r []point) []point {
	out := make([]point, len(r))
	for i, p := range r {
		out[i].x, out[i].y = laea.Project(p.y, p.x)
	}
	return out
}

// roundRing rounds a ring's coordinates to 0.1 unit.
func roundRing(r []point) []point {
	for i := range r {
		r[i] = point{round(r[i].x), round(r[i].y)}
	}
	return r
}

func round(v float64) float64 { return math.Round(v*10) / 10 }

// simplify drops points closer than minStep to the last kept one, and
// returns nil for a ring with less than minArea of area left.
func simplify(r []point) []point {
	if len(r) > 1 && r[0] == r[len(r)-1] {
		r = r[:len(r)-1]
	}
	var out []point
	for _, p := range r {
		if len(out) > 0 && math.Hypot(p.x-out[len(out)-1].x, p.y-out[len(out)-1].y) < minStep {
			continue
		}
		out = append(out, p)
	}
	for len(out) > 1 && math.Hypot(out[0].x-out[len(out)-1].x, out[0].y-out[len(out)-1].y) < minStep {
		out = out[:len(out)-1]
	}
	if len(out) < 3 || math.Abs(area(out)) < minArea {
		return nil
	}
	return out
}

// area is the signed area of a ring (shoelace formula).
func area(r []point) float64 {
	var s float64
	for i, p := range r {
		q := r[(i+1)%len(r)]
		s += p.x*q.y - q.x*p.y
	}
	return s / 2
}

// path writes rings as an SVG path: "M x y L x y x y … Z" per ring, with
// absolute coordinates of at most one decimal.
func path(rings [][]point) string {
	var b strings.Builder
	for _, r := range rings {
		for i, p := range r {
			switch i {
			case 0:
				b.WriteByte('M')
			case 1:
				b.WriteByte('L')
			default:
				b.WriteByte(' ')
			}
			b.WriteString(num(p.x))
			b.WriteByte(' ')
			b.WriteString(num(p.y))
		}
		b.WriteByte('Z')
	}
	return b.String()
}

func num(v float64) string {
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// encode writes the map as indented JSON, one country per line-group, with
// a final newline, so diffs of regenerated files stay readable.
func encode(m *Map) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
