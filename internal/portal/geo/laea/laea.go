// Package laea is the one projection of the portal's map of Europe: the
// Lambert azimuthal equal-area projection of EPSG:3035 (GRS80 ellipsoid,
// centre 52°N 10°E), fitted into an SVG viewBox 1000 units wide that holds
// the frame West..East, South..North. The generator of europe.json and
// geo.Project both call it, so a site's dot lands on its country.
package laea

import (
	"fmt"
	"math"
)

// The frame of the map, in degrees. Geometry is clipped to it, and the
// viewBox is the bounding box of its projection.
const (
	West  = -25.0
	East  = 45.0
	South = 34.0
	North = 72.0
)

// Width is the width of the viewBox in SVG user units.
const Width = 1000.0

// EPSG:3035: GRS80 ellipsoid, natural origin 52°N 10°E, false easting
// 4,321,000 m and false northing 3,210,000 m.
const (
	semiMajor     = 6378137.0
	eccentricity2 = 0.00669438002290 // GRS80
	lat0, lon0    = 52.0, 10.0
	falseEasting  = 4321000.0
	falseNorthing = 3210000.0
)

var (
	ecc                  = math.Sqrt(eccentricity2)
	qp                   = q(math.Pi / 2)
	rq                   = semiMajor * math.Sqrt(qp/2)
	sinB1, cosB1, dScale = origin()
	fit                  = fitFrame()
)

// q is Snyder's q(φ) (Map Projections: A Working Manual, eq. 3-12).
func q(phi float64) float64 {
	s := math.Sin(phi)
	return (1 - eccentricity2) * (s/(1-eccentricity2*s*s) - 1/(2*ecc)*math.Log((1-ecc*s)/(1+ecc*s)))
}

func origin() (sinB1, cosB1, d float64) {
	phi1 := lat0 * math.Pi / 180
	b1 := math.Asin(q(phi1) / qp)
	m1 := math.Cos(phi1) / math.Sqrt(1-eccentricity2*math.Sin(phi1)*math.Sin(phi1))
	return math.Sin(b1), math.Cos(b1), semiMajor * m1 / (rq * math.Cos(b1))
}

// Forward projects a point to EPSG:3035 easting and northing in metres
// (Snyder's ellipsoidal oblique form, eqs. 24-12 to 24-15).
func Forward(lat, lon float64) (easting, northing float64) {
	phi := lat * math.Pi / 180
	dl := (lon - lon0) * math.Pi / 180
	qv := q(phi)
	beta := math.Asin(math.Max(-1, math.Min(1, qv/qp)))
	sb, cb := math.Sin(beta), math.Cos(beta)
	b := rq * math.Sqrt(2/(1+sinB1*sb+cosB1*cb*math.Cos(dl)))
	x := b * dScale * cb * math.Sin(dl)
	y := b / dScale * (cosB1*sb - sinB1*cb*math.Cos(dl))
	return falseEasting + x, falseNorthing + y
}

type frameFit struct {
	minE, maxN, scale, height float64
}

// fitFrame finds the bounding box of the projected frame by walking its
// edges, and the scale that makes it Width units wide.
func fitFrame() frameFit {
	minE, maxE := math.Inf(1), math.Inf(-1)
	minN, maxN := math.Inf(1), math.Inf(-1)
	add := func(lat, lon float64) {
		e, n := Forward(lat, lon)
		minE, maxE = math.Min(minE, e), math.Max(maxE, e)
		minN, maxN = math.Min(minN, n), math.Max(maxN, n)
	}
	const steps = 700
	for i := 0; i <= steps; i++ {
		t := float64(i) / steps
		lon := West + t*(East-West)
		lat := South + t*(North-South)
		add(South, lon)
		add(North, lon)
		add(lat, West)
		add(lat, East)
	}
	scale := Width / (maxE - minE)
	return frameFit{minE: minE, maxN: maxN, scale: scale, height: math.Ceil((maxN - minN) * scale)}
}

// Project maps a point (degrees) to viewBox units: x grows east, y grows
// south. Points of the frame land inside ViewBox; points outside it get
// coordinates outside it.
func Project(lat, lon float64) (x, y float64) {
	e, n := Forward(lat, lon)
	return (e - fit.minE) * fit.scale, (fit.maxN - n) * fit.scale
}

// Height is the height of the viewBox in SVG user units.
func Height() float64 { return fit.height }

// ViewBox is the SVG viewBox attribute of the map: "0 0 Width Height".
func ViewBox() string { return fmt.Sprintf("0 0 %g %g", Width, fit.height) }
