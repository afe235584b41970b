package laea

import (
	"math"
	"testing"
)

func TestForward(t *testing.T) {
	tests := map[string]struct {
		lat, lon   float64
		east, nrth float64
	}{
		// The worked example of EPSG Guidance Note 7-2 for EPSG:3035.
		"EPSG example": {50, 5, 3962799.45, 2999718.85},
		"origin":       {52, 10, 4321000, 3210000},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, n := Forward(tc.lat, tc.lon)
			if math.Abs(e-tc.east) > 0.01 || math.Abs(n-tc.nrth) > 0.01 {
				t.Errorf("Forward(%v, %v) = %.2f, %.2f; want %.2f, %.2f", tc.lat, tc.lon, e, n, tc.east, tc.nrth)
			}
		})
	}
}

func TestFrameFitsViewBox(t *testing.T) {
	// The viewBox is the bounding box of the projected frame: the frame's
	// points reach each of its four sides (within the rounding of Height).
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for lat := South; lat <= North; lat += 0.25 {
		for lon := West; lon <= East; lon += 0.25 {
			x, y := Project(lat, lon)
			minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
		}
	}
	if math.Abs(minX) > 0.01 || math.Abs(maxX-Width) > 0.01 || math.Abs(minY) > 0.01 || maxY > Height() || maxY < Height()-1 {
		t.Errorf("frame spans x %.2f..%.2f, y %.2f..%.2f; viewBox %s", minX, maxX, minY, maxY, ViewBox())
	}
}
