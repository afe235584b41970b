package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/core"
)

func TestServeClockFlags(t *testing.T) {
	pool := []core.Pool{{Name: "p", Model: "h100", AccelPerNode: 8, Nodes: 1}}
	simSite := core.Site{ID: "s", Driver: "sim", Pools: pool}
	localSite := core.Site{ID: "l", Driver: "local", Pools: pool}
	antenna := core.Site{ID: "a", Driver: "local"} // no compute: no driver runs there
	cases := map[string]struct {
		opts    clockOptions
		sites   []core.Site
		wantErr string // "" = accepted
		wall    bool   // accepted as the wall clock (nil)
	}{
		"no flags":              {sites: []core.Site{localSite}, wall: true},
		"sim sites":             {opts: clockOptions{speed: 300}, sites: []core.Site{simSite, antenna}},
		"epoch and step":        {opts: clockOptions{speed: 300, epoch: "2026-01-01T00:00:00Z", step: time.Minute}, sites: []core.Site{simSite}},
		"a local site":          {opts: clockOptions{speed: 300}, sites: []core.Site{simSite, localSite}, wantErr: "--clock-speed: site l has driver local"},
		"no sim site":           {opts: clockOptions{speed: 300}, sites: []core.Site{antenna}, wantErr: "--clock-speed: no site has the sim driver"},
		"negative speed":        {opts: clockOptions{speed: -1}, sites: []core.Site{simSite}, wantErr: "--clock-speed: want a speed above 0"},
		"bad epoch":             {opts: clockOptions{speed: 2, epoch: "tomorrow"}, sites: []core.Site{simSite}, wantErr: "--clock-epoch: want RFC 3339"},
		"negative step":         {opts: clockOptions{speed: 2, step: -time.Second}, sites: []core.Site{simSite}, wantErr: "--clock-step: must not be negative"},
		"epoch without speed":   {opts: clockOptions{epoch: "2026-01-01T00:00:00Z"}, sites: []core.Site{simSite}, wantErr: "--clock-epoch needs --clock-speed"},
		"step without speed":    {opts: clockOptions{step: time.Minute}, sites: []core.Site{simSite}, wantErr: "--clock-step needs --clock-speed"},
		"speed beyond the roof": {opts: clockOptions{speed: 2e6}, sites: []core.Site{simSite}, wantErr: "--clock-speed: want a speed above 0"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := tc.opts.clock(tc.sites, time.Now)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case tc.wall != (c == nil):
				t.Fatalf("got clock %+v, want the wall clock: %v", c, tc.wall)
			}
		})
	}
}

func TestVirtualClock(t *testing.T) {
	start := time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		speed float64
		step  time.Duration
		after time.Duration // wall time since start
		want  time.Duration // virtual time since epoch
	}{
		"at start":               {speed: 300, after: 0, want: 0},
		"smooth":                 {speed: 300, after: 1500 * time.Millisecond, want: 450 * time.Second},
		"slower than the wall":   {speed: 0.5, after: 10 * time.Second, want: 5 * time.Second},
		"within the first step":  {speed: 150, step: 5 * time.Minute, after: 1999 * time.Millisecond, want: 0},
		"on a step":              {speed: 150, step: 5 * time.Minute, after: 2 * time.Second, want: 5 * time.Minute},
		"between steps":          {speed: 150, step: 5 * time.Minute, after: 5 * time.Second, want: 10 * time.Minute},
		"a step finer than time": {speed: 1, step: time.Nanosecond, after: time.Second, want: time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			wall := start
			o := clockOptions{speed: tc.speed, epoch: epoch.Format(time.RFC3339), step: tc.step}
			c, err := o.clock([]core.Site{{ID: "s", Driver: "sim", Pools: []core.Pool{{Name: "p", AccelPerNode: 1, Nodes: 1}}}}, func() time.Time { return wall })
			if err != nil {
				t.Fatal(err)
			}
			wall = start.Add(tc.after)
			if got := c.Now().Sub(epoch); got != tc.want {
				t.Errorf("%v of wall time at speed %g, step %v: %v of virtual time, want %v", tc.after, tc.speed, tc.step, got, tc.want)
			}
		})
	}
}
