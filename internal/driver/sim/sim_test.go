package sim

import (
	"sync"
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/drivertest"
)

// clock is a virtual clock for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) drivertest.Instance {
			c := newClock()
			d := New(c.Now)
			return drivertest.Instance{
				Driver:  d,
				Advance: c.Advance,
				Restart: func(*testing.T) driver.Driver { return d },
			}
		},
		Tick: time.Minute,
		Node: "sim-0",
	})
}
