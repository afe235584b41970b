package slurm

import (
	"testing"
	"time"

	"github.com/gigafactory/gigafactory/internal/driver"
	"github.com/gigafactory/gigafactory/internal/driver/drivertest"
)

// TestConformance runs the drivers' shared suite against the real Slurm.
// Each case gets its own tag prefix (the suite reuses job ids 1-9 and the
// cluster outlives runs); Restart is a new Driver on the same prefix.
// AccelEnv is off: Slurm, not Gigafactory, picks a node's GPU indices.
func TestConformance(t *testing.T) {
	c := testCluster(t)
	t.Parallel()
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) drivertest.Instance {
			opts := c.options(uniquePrefix("ct"))
			d := newTestDriver(t, opts)
			return drivertest.Instance{
				Driver:  d,
				Advance: time.Sleep,
				Restart: func(t *testing.T) driver.Driver {
					d.Close()
					return newTestDriver(t, opts)
				},
			}
		},
		Tick:     time.Second,
		Walltime: time.Minute, // Slurm's granularity
		Timeout:  150 * time.Second,
		Node:     "node1",
	})
}
