package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/gigafactory/gigafactory/internal/core"
)

// clockOptions are gf serve's hidden flags for an accelerated virtual
// clock: with them a federation of sim-driver sites runs hours of
// scheduling in minutes, so that the same workload can be compared with
// gf simulate's replay (cmd/gf/e2e_twin_test.go). They are a testing aid,
// not an operating mode: real sites run on the wall clock.
type clockOptions struct {
	speed float64       // --clock-speed: virtual seconds per wall second (0: the wall clock)
	epoch string        // --clock-epoch: the virtual time at start, RFC 3339 (default: now)
	step  time.Duration // --clock-step: the virtual time moves in whole steps of this (0: smoothly)
}

func (o *clockOptions) flags(fs *pflag.FlagSet) {
	fs.Float64Var(&o.speed, "clock-speed", 0, "testing: run a virtual clock this many times as fast as the wall clock (sim-driver sites only)")
	fs.StringVar(&o.epoch, "clock-epoch", "", "testing, with --clock-speed: the virtual time at start, RFC 3339 (default: now)")
	fs.DurationVar(&o.step, "clock-step", 0, "testing, with --clock-speed: the virtual clock moves in whole steps of this, each step/speed of wall time (default: smoothly)")
	for _, name := range []string{"clock-speed", "clock-epoch", "clock-step"} {
		_ = fs.MarkHidden(name)
	}
}

// virtualClock is an accelerated clock: from wall time start it reads
// epoch plus speed times the wall time since, rounded down to a whole
// step when step > 0.
type virtualClock struct {
	epoch, start time.Time
	speed        float64
	step         time.Duration
	wall         func() time.Time
}

// Now is the virtual time.
func (c *virtualClock) Now() time.Time {
	v := time.Duration(float64(c.wall().Sub(c.start)) * c.speed)
	if c.step > 0 {
		v = v.Truncate(c.step)
	}
	return c.epoch.Add(v)
}

// clock checks the flags against the sites and returns the clock gf serve
// runs on: nil for the wall clock (no --clock-speed). An accelerated
// clock is refused unless every site with compute has the sim driver,
// whose jobs run in the clock's time; a real site's would not.
func (o *clockOptions) clock(sites []core.Site, wall func() time.Time) (*virtualClock, error) {
	if o.speed == 0 {
		switch {
		case o.epoch != "":
			return nil, fmt.Errorf("--clock-epoch needs --clock-speed")
		case o.step != 0:
			return nil, fmt.Errorf("--clock-step needs --clock-speed")
		}
		return nil, nil
	}
	if o.speed < 0 || o.speed > 1e6 {
		return nil, fmt.Errorf("--clock-speed: want a speed above 0 and at most 1000000 (virtual seconds per second), got %g", o.speed)
	}
	if o.step < 0 {
		return nil, fmt.Errorf("--clock-step: must not be negative, got %v", o.step)
	}
	sim := 0
	for _, s := range sites {
		if len(s.Pools) == 0 {
			continue
		}
		if s.Driver != "sim" {
			return nil, fmt.Errorf("--clock-speed: site %s has driver %s; an accelerated clock is for sim-driver sites only", s.ID, s.Driver)
		}
		sim++
	}
	if sim == 0 {
		return nil, fmt.Errorf("--clock-speed: no site has the sim driver; an accelerated clock is for sim-driver sites only")
	}
	now := wall()
	c := &virtualClock{epoch: now, start: now, speed: o.speed, step: o.step, wall: wall}
	if o.epoch != "" {
		t, err := time.Parse(time.RFC3339, o.epoch)
		if err != nil {
			return nil, fmt.Errorf("--clock-epoch: want RFC 3339 time such as 2026-01-01T00:00:00Z, got %q", o.epoch)
		}
		c.epoch = t.UTC()
	}
	return c, nil
}
