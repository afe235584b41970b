package main

import (
	"slices"
	"testing"
)

// square is a quantized topology (scale 0.5, translate 10,20) of one
// 10x10 square drawn by two arcs, each delta-encoded.
const square = `{"type":"Topology",
 "transform":{"scale":[0.5,0.5],"translate":[10,20]},
 "arcs":[[[0,0],[20,0],[0,20]],[[20,20],[-20,0],[0,-20]]],
 "objects":{"countries":{"type":"GeometryCollection","geometries":[
  {"type":"Polygon","id":"1","arcs":[[0,1]],"properties":{"name":"A"}},
  {"type":"MultiPolygon","id":"2","arcs":[[[-2,-1]]],"properties":{"name":"B"}},
  {"type":null,"id":"3","properties":{"name":"C"}}]}}}`

func TestDecode(t *testing.T) {
	d, err := decode([]byte(square))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want []point
	}{
		{"Polygon", []point{{10, 20}, {20, 20}, {20, 30}, {10, 30}, {10, 20}}},
		{"MultiPolygon of reversed arcs", []point{{10, 20}, {10, 30}, {20, 30}, {20, 20}, {10, 20}}},
	}
	for i, tc := range tests {
		polys, err := d.geometries[i].polygons()
		if err != nil {
			t.Fatal(err)
		}
		if len(polys) != 1 || len(polys[0]) != 1 {
			t.Fatalf("%s: polygons %v", tc.name, polys)
		}
		got, err := d.ring(polys[0][0])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: ring %v, want %v", tc.name, got, tc.want)
		}
	}
	if polys, err := d.geometries[2].polygons(); err != nil || polys != nil {
		t.Errorf("null geometry: %v, %v", polys, err)
	}
	if _, err := d.ring([]int{5}); err == nil {
		t.Error("arc 5 of 2: no error")
	}
	for _, bad := range []string{`{"type":"FeatureCollection"}`, `{"type":"Topology","objects":{}}`, `[`} {
		if _, err := decode([]byte(bad)); err == nil {
			t.Errorf("decode(%s): no error", bad)
		}
	}
}

func TestClipSimplifyPath(t *testing.T) {
	// A square from -5 to 5 cut to the quadrant 0..10 leaves 0..5.
	r := clip([]point{{-5, -5}, {5, -5}, {5, 5}, {-5, 5}}, 0, 0, 10, 10)
	if a := area(r); a != 25 {
		t.Errorf("clipped area %v (ring %v), want 25", a, r)
	}
	if r := clip([]point{{20, 20}, {30, 20}, {30, 30}}, 0, 0, 10, 10); r != nil {
		t.Errorf("ring outside: %v", r)
	}
	tests := map[string]struct {
		in   []point
		want string
	}{
		"kept":              {[]point{{0, 0}, {10, 0}, {10, 10}, {0, 0}}, "M0 0L10 0 10 10Z"},
		"close points gone": {[]point{{0, 0}, {0.3, 0}, {10, 0}, {10, 10}}, "M0 0L10 0 10 10Z"},
		"too small":         {[]point{{0, 0}, {0.8, 0}, {0.8, 0.8}}, ""},
		"a line":            {[]point{{0, 0}, {5, 0}, {10, 0}}, ""},
	}
	for name, tc := range tests {
		var got string
		if s := simplify(tc.in); s != nil {
			got = path([][]point{s})
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
	if got := path([][]point{{{1.5, -0.0}, {2, 3}, {4, 5}}, {{0, 0}, {1, 0}, {1, 1}}}); got != "M1.5 0L2 3 4 5ZM0 0L1 0 1 1Z" {
		t.Errorf("path: %q", got)
	}
}
